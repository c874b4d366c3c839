"""``bus demo``: every flow once, against the bundled simulators, narrated.

It starts a bus on a fresh SQLite journal and every simulator on free ports, in this process,
then drives the flows over HTTP as the storefront, the CRM and a manager would, and prints what
each system ended up with. Nothing is mocked: the same code serves production.
"""

from __future__ import annotations

import asyncio
import base64
import io
import tempfile
from pathlib import Path
from typing import Any

import httpx
import openpyxl
from aiohttp import web
from rich.console import Console
from rich.table import Table

from bus import sandbox
from bus.settings import DEV_KEYS, Settings

#: How long a flow may take before the demo says so.
PATIENCE = 30.0
#: The personal manager the CRM names for the demo's customers: every new order mails her.
MANAGER = {"name": "Irina Volkova", "email": "irina.volkova@b2b.example"}


class Demo:
    """A running bus with its simulators, and the calls that show each flow."""

    def __init__(self, settings: Settings, ports: dict[str, int], console: Console) -> None:
        self.settings = settings
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        self.api = f"http://127.0.0.1:{settings.port}/rpc"
        self.console = console
        self.http = httpx.AsyncClient(timeout=PATIENCE)

    async def call(self, caller: str, method: str, params: dict[str, Any]) -> Any:
        """One JSON-RPC call as ``caller``; its result (an error is printed and raised)."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        headers = {"Authorization": f"Bearer {DEV_KEYS[caller]}"}
        answer = (await self.http.post(self.api, json=body, headers=headers)).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    async def delivered(self, message_id: str) -> dict[str, Any]:
        """Wait until the message and its later steps are delivered (or failed); the message."""
        deadline = asyncio.get_running_loop().time() + PATIENCE
        while True:
            message = await self.call("ops", "message.get", {"message_id": message_id})
            steps = [message, *message["children"]]
            if all(step["status"] in ("delivered", "skipped", "failed") for step in steps):
                return dict(message)
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"{message_id} is still {[s['status'] for s in steps]}")
            await asyncio.sleep(0.2)

    def title(self, text: str) -> None:
        self.console.rule(f"[bold]{text}")

    async def order(self) -> str:
        self.title(
            "2. A licensed customer's order: the ERP (to the licence address), the CRM, a mail"
        )
        lines = [
            {"item": "1000", "quantity": 12, "product_type": "alcohol"},
            {"item": "1100", "quantity": 48, "product_type": "water"},
        ]
        message = await self.submit("DEMO-1", "10000", lines)
        crm = await self.call(
            "ops", "message.get", {"message_id": message["children"][0]["message_id"]}
        )
        self.console.print(
            f"{self.settings.erp}: order [bold]{message['result']['reference']}[/];"
            f" {self.settings.crm}: [bold]{crm['result'].get('reference')}[/] ({crm['status']})"
        )
        await self.show_mails(MANAGER["email"], "DEMO-1")
        return str(crm["result"].get("reference"))

    async def split(self) -> None:
        self.title("3. An unlicensed customer's cart: one pick-up order per contract, to the CRM")
        lines = [
            {"item": "1100", "quantity": 24, "product_type": "water"},
            {"item": "1000", "quantity": 6, "product_type": "alcohol"},
        ]
        message = await self.submit("DEMO-2", "50000", lines)
        for child in message["children"]:
            self.console.print(
                f"  {child['target']:>10} {child['operation']:<20} {child['status']}"
            )

    async def submit(
        self, order_id: str, customer: str, lines: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Submit an order as the storefront, print the answer, wait for its delivery."""
        order = {"order_id": order_id, "customer": customer, "lines": lines}
        accepted = await self.call("storefront", "order.submit", order)
        self.console.print(f"order.submit answered at once: {accepted}")
        return await self.delivered(accepted["message_id"])

    async def storefront_state(
        self, what: str, customer: str | None = None
    ) -> list[dict[str, Any]]:
        """The storefront's ``what`` (``orders``, ``requests``), of ``customer`` if given."""
        url = f"{self.urls['storefront']}/_control/storefront/{what}"
        params = {} if customer is None else {"customer": customer}
        shown: list[dict[str, Any]] = (await self.http.get(url, params=params)).json()[what]
        return shown

    async def show_mails(self, to: str, about: str) -> None:
        mails = (
            await self.http.get(f"{self.urls['mail']}/_control/mail/messages", params={"to": to})
        ).json()
        for mail in mails["messages"]:
            if about in mail["subject"] or about in mail["text"]:
                self.console.print(f"mail to {to}: [bold]{mail['subject']}[/]")
                self.console.print(mail["text"].strip())

    async def prices(self) -> None:
        self.title("4. Personal prices in real time")
        answer = await self.call(
            "storefront",
            "prices.get",
            {
                "customer": "10000",
                "items": [{"item": "1000", "quantity": 1}, {"item": "1000", "quantity": 120}],
            },
        )
        table = Table("item", "quantity", "price", "kind")
        for price in answer["prices"]:
            table.add_row(
                price["item"], f"{price['quantity']:g}", str(price["price"]), str(price["kind"])
            )
        self.console.print(table)

    async def cart(self) -> None:
        self.title("5. A cart from the customer's Excel form")
        book = openpyxl.Workbook()
        sheet = book.worksheets[0]
        sheet.title = "Order"
        for row in (["Item", "Quantity"], ["1000", 6], ["1002", "2,5"], ["NOPE", 1], [None, 3]):
            sheet.append(row)
        data = io.BytesIO()
        book.save(data)
        cart = await self.call(
            "storefront",
            "cart.import_excel",
            {"customer": "10000", "workbook": base64.b64encode(data.getvalue()).decode()},
        )
        table = Table("row", "item", "quantity", "price", "amount")
        for line in cart["lines"]:
            table.add_row(
                str(line["row"]),
                line["item"],
                f"{line['quantity']:g}",
                str(line["price"]),
                str(line["amount"]),
            )
        self.console.print(table)
        for rejected in cart["rejected"]:
            self.console.print(
                f"  row {rejected['row']}: {rejected['reason']} — {rejected['detail']}"
            )

    async def provisioning(self) -> None:
        self.title("1. The CRM provisions customers' storefront accounts")
        for erp_key, email in (
            ("10000", "anna@adatum.example"),
            ("50000", "roman@relecloud.example"),
        ):
            contact = {"name": "Anna Petrova", "email": email, "primary": True}
            accepted = await self.call(
                "crm",
                "account.create",
                {
                    "erp_key": erp_key,
                    "contacts": [contact],
                    "settings": {"greeting": "Добрый день!", "manager": MANAGER},
                },
            )
            message = await self.delivered(accepted["message_id"])
        for step in message["children"]:
            self.console.print(f"  {step['target']:>10} {step['operation']:<24} {step['status']}")
        await self.show_mails(email, "password")

    async def documents(self) -> None:
        self.title("8. Documents and money: an invoice from the ERP, the customer's balance")
        asked = await self.call(
            "storefront", "invoice.request", {"customer": "20000", "amount": 1500.0}
        )
        message = await self.delivered(asked["message_id"])
        document = message["result"]["document"]
        self.console.print(
            f"{self.settings.erp}: {document['kind']} [bold]{document['number']}[/]"
            f" → storefront ({document['filename']}, {len(document['content_base64'])} bytes b64)"
        )
        balance = await self.call("storefront", "balance.get", {"customer": "20000"})
        self.console.print(
            f"balance {balance['balance']} {balance['currency']},"
            f" credit limit {balance['credit_limit']}"
        )

    async def lifecycle(self) -> None:
        self.title("7. Requests the ERP decides on, and its verdict on merging orders")
        asked = await self.call(
            "storefront",
            "address.request",
            {"customer": "20000", "address": "7 Harbour Lane, Chicago 60601"},
        )
        await self.delivered(asked["message_id"])
        decided = await self.call(
            "erp", "request.decided", {"request_id": asked["message_id"], "decision": "approved"}
        )
        await self.delivered(decided["message_id"])
        merged = await self.call(
            "erp",
            "order.merge",
            {
                "customer": "20000",
                "orders": ["A-1001", "A-1002"],
                "outcome": "accepted",
                "new_order": {
                    "order_id": "A-1003",
                    "status": "created_in_reserve",
                    "lines": [{"item": "1000", "quantity": 24}],
                },
            },
        )
        await self.delivered(merged["message_id"])
        for request in await self.storefront_state("requests", "20000"):
            self.console.print(
                f"storefront: {request['kind']} request {request['decision']}"
                f" (ERP {request['erp_request_no']}): {request['details']}"
            )
        for order in await self.storefront_state("orders", "20000"):
            self.console.print(
                f"storefront order {order['order_id']}: {order['status']},"
                f" merged from {order['merged_from']}"
            )

    async def deal_edit(self, deal_id: str) -> None:
        self.title("6. A manager edits the deal in Bitrix24; the storefront follows")
        edit = {"id": int(deal_id), "fields": {"STAGE_ID": "EXECUTING"}}
        await self.http.post(f"{self.urls['bitrix24']}/_control/bitrix24/edit_deal", json=edit)
        for _ in range(int(PATIENCE / 0.2)):
            orders = await self.storefront_state("orders")
            order = next((o for o in orders if o["order_id"] == "DEMO-1"), None)
            if order is not None:
                status = order["status"]
                self.console.print(f"storefront order DEMO-1: [bold]{status}[/] (deal {deal_id})")
                return
            await asyncio.sleep(0.2)
        self.console.print("the storefront did not hear of the edit in time")


async def run(console: Console) -> None:
    """Start everything, show each flow, stop everything."""
    ports = {name: sandbox.free_port() for name in sandbox.DEFAULT_PORTS}
    with tempfile.TemporaryDirectory() as journal:
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{Path(journal) / 'demo.db'}",
            port=sandbox.free_port(),
            **sandbox.settings_for(ports, smtp_port=sandbox.free_port()),  # type: ignore[arg-type]
        )
        from bus.app import create_app
        from bus.migrate import ensure_schema

        await asyncio.to_thread(ensure_schema, settings.database_url)
        runner = web.AppRunner(create_app(settings), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", settings.port).start()
        simulators = await sandbox.start_simulators(ports, "127.0.0.1", settings.mail.port)
        demo = Demo(settings, ports, console)
        try:
            await asyncio.to_thread(
                sandbox.subscribe_bitrix24,
                demo.urls["bitrix24"],
                f"http://127.0.0.1:{settings.port}",
                settings.bitrix24.application_token.get_secret_value(),
            )
            await demo.provisioning()
            deal_id = await demo.order()
            await demo.split()
            await demo.prices()
            await demo.cart()
            await demo.deal_edit(deal_id)
            await demo.lifecycle()
            await demo.documents()
            console.rule("[bold green]done")
        finally:
            await demo.http.aclose()
            for simulator in simulators:
                await simulator.cleanup()
            await runner.cleanup()
