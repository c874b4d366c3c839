"""An operator uses the web console in a real browser (Debian's headless Chromium, driven through
its chromedriver by Selenium) against a real deployment: ``bus serve`` and ``bus worker`` on
PostgreSQL and Redis, with the simulators.

Signed in with the operators' key (no other key enters), the operator sees a failed order in the
overview and in its failure group, reads the message with its attempts and exchanges, replays the
group with a reason and sees the order delivered; finds orders by order id and ERP number; no
configured secret nor a set-password link is in any page's source; a form without its CSRF token
is refused; pages fit a phone's width.

Without Chromium and its driver the tests are skipped loudly (failed under ``CI=true``): see the
README's test section for how to install them.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.expected_conditions import staleness_of
from selenium.webdriver.support.ui import Select, WebDriverWait

from bus.redaction import MIN_SECRET_LENGTH, configured_secrets
from bus.settings import DEV_KEYS, Settings
from tests.e2e.conftest import (
    ERP_ONLY,
    Simulator,
    bus_client,
    nav_simulator,
    order,
    production_env,
    running,
    stack_dir,
)
from tests.e2e.conftest import wait_until as wait_for
from tests.e2e.test_systems import TIMINGS
from tests.support.processes import BusClient, Stack
from tests.support.servers import CI, fresh_postgres_database, redis_or_skip

pytestmark = pytest.mark.timeout(240)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
#: NAV refuses the order's item for good: a permanent 400.
NAV_REFUSES = {
    "mode": "error",
    "status": 400,
    "match": "SalesOrder",
    "methods": ["POST"],
    "body": {"error": {"code": "Application_DialogException", "message": "Item 1000 is blocked"}},
}
#: Every secret the deployment is configured with (its settings are the defaults, which the
#: simulators share): none may be in a page.
SECRETS = [s for s in configured_secrets(Settings()) if len(s) >= MIN_SECRET_LENGTH]
#: A sealed value (bus.sealing) with its ciphertext, not redacted to ``fernet:***``.
SEALED = re.compile(r"fernet:(?!\*\*\*)")


def _browser_or_skip() -> None:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if not missing:
        return
    message = (
        f"{' and '.join(missing)} not found: install Debian's chromium and chromium-driver"
        " (apt-get install -y chromium chromium-driver)"
    )
    if CI:
        pytest.fail(f"{message}; CI must run the console's browser tests", pytrace=False)
    pytest.skip(f"SKIPPED LOUDLY: {message}")


class Console:
    """The console as an operator's browser shows it."""

    def __init__(self, driver: webdriver.Chrome, stack: Stack) -> None:
        self.driver = driver
        self.url = f"{stack.api_url}/console"
        self.stack = stack

    def open(self, path: str) -> None:
        self.driver.get(f"{self.url}{path}")

    @property
    def text(self) -> str:
        """The page's visible text."""
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    @property
    def source(self) -> str:
        return str(self.driver.page_source)

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def press(self, button: WebElement) -> None:
        """Press ``button`` and wait for the page it leads to."""
        page = self.find("html")
        button.click()
        # Asked while the page is being replaced, Chromium may answer neither "stale" nor
        # "not stale" but an inspector error: asked again, it says.
        wait = WebDriverWait(self.driver, 20, ignored_exceptions=(WebDriverException,))
        wait.until(staleness_of(page), message="the next page")

    def sign_in(self, key: str) -> None:
        """Sign in on the form shown (which knows where the operator was going), or a new one."""
        if "/console/login" not in self.driver.current_url:
            self.open("/login")
        self.find("input[name=key]").send_keys(key)
        self.press(self.find("main button[type=submit]"))

    def sign_out(self) -> None:
        self.press(self.find("form.logout button"))

    def submit(self, form: WebElement, reason: str, button: str) -> None:
        """Fill ``form``'s reason and press its button labelled ``button``."""
        form.find_element(By.NAME, "reason").send_keys(reason)
        [pressed] = [b for b in form.find_elements(By.TAG_NAME, "button") if b.text == button]
        self.press(pressed)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """PostgreSQL, Redis, ``bus serve``, a worker and the simulators accounts go through."""
    _browser_or_skip()
    redis_or_skip()
    base = stack_dir(tmp_path_factory, "console")
    with fresh_postgres_database() as database_url:
        env = production_env(database_url, {**TIMINGS, "BUS_ORDER_ROUTES": ERP_ONLY})
        simulators = ("navision", "bitrix24", "storefront", "mail")
        for started in running(Stack(env, base / "logs", simulators=simulators)):
            started.start_worker()
            yield started


@pytest.fixture(scope="module")
def driver(stack: Stack) -> Iterator[webdriver.Chrome]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,900")
    chrome = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture
def console(driver: webdriver.Chrome, stack: Stack) -> Iterator[Console]:
    """The browser, signed out, at a wide window."""
    driver.delete_all_cookies()
    driver.set_window_size(1280, 900)
    yield Console(driver, stack)


@pytest.fixture(scope="module")
def storefront(stack: Stack) -> Iterator[BusClient]:
    yield from bus_client(stack, DEV_KEYS["storefront"])


@pytest.fixture(scope="module")
def nav(stack: Stack) -> Iterator[Simulator]:
    yield from nav_simulator(stack)


def _status(client: BusClient, message_id: str) -> str:
    return str(client.call("message.get", {"message_id": message_id})["status"])


def _failed_order(stack: Stack, storefront: BusClient, nav: Simulator) -> tuple[str, str]:
    """An order NAV refuses for good: its order id and message id."""
    order_id = f"CON-{uuid.uuid4().hex[:8]}"
    nav.fault(**NAV_REFUSES)
    try:
        params = order(0, order_id=order_id, idempotency_key=order_id)
        message_id = storefront.call("order.submit", params)["message_id"]
        wait_for(lambda: _status(storefront, message_id) == "failed", stack, 30, "the failure")
    finally:
        nav.clear_faults()
    return order_id, message_id


def test_only_the_operators_key_enters(console: Console) -> None:
    console.open("/")
    assert "/console/login" in console.driver.current_url
    console.sign_in("not-a-key-of-ours")
    assert "That key is not known." in console.text
    console.sign_in(DEV_KEYS["storefront"])
    assert "not an operator" in console.text
    console.open("/groups")
    assert "/console/login" in console.driver.current_url  # still signed out
    console.sign_in(DEV_KEYS["ops"])
    assert console.driver.current_url.endswith("/console/groups")  # where it was going
    console.open("/")
    assert console.find("h1").text.startswith("Overview")
    console.sign_out()
    console.open("/")
    assert "/console/login" in console.driver.current_url


def test_a_failed_order_is_found_grouped_replayed_and_delivered(
    console: Console, stack: Stack, storefront: BusClient, nav: Simulator
) -> None:
    order_id, message_id = _failed_order(stack, storefront, nav)
    console.sign_in(DEV_KEYS["ops"])

    console.open("/")
    failed = console.find('a[href="/console/messages?target=navision&status=failed"]')
    console.press(failed)
    assert message_id in console.text

    console.open("/groups")
    [group] = [
        g
        for g in console.driver.find_elements(By.CSS_SELECTOR, "section.group")
        if "Item # is blocked" in g.text
    ]
    assert "order.submit → navision" in group.text
    console.press(group.find_element(By.CSS_SELECTOR, "dd a.id"))
    page = console.text
    assert f'"order_id": "{order_id}"' in page
    assert "HTTP 400" in page and "Item 1000 is blocked" in page
    exchange = console.find("details[open]").text  # the newest attempt is shown open
    assert "SalesOrder" in exchange and '"authorization": "***"' in exchange.lower()

    console.open("/groups")
    [group] = [
        g
        for g in console.driver.find_elements(By.CSS_SELECTOR, "section.group")
        if "Item # is blocked" in g.text
    ]
    count = group.find_element(By.NAME, "count").get_attribute("value")
    console.submit(group, "the item was unblocked in NAV", f"Replay {count}")
    assert f"Replayed {count} message(s)." in console.text

    wait_for(lambda: _status(storefront, message_id) == "delivered", stack, 30, "the delivery")
    console.open(f"/messages/{message_id}")
    assert console.find("h1 .status").text == "delivered"
    actions = console.find("section:last-of-type table").text
    assert "console:ops" in actions and "the item was unblocked in NAV" in actions
    assert "erp_order_no" in console.text


def test_orders_are_found_by_order_id_and_erp_number(
    console: Console, stack: Stack, storefront: BusClient
) -> None:
    order_id = f"FIND-{uuid.uuid4().hex[:8]}"
    params = order(0, order_id=order_id, idempotency_key=order_id)
    message_id = storefront.call("order.submit", params)["message_id"]
    wait_for(lambda: _status(storefront, message_id) == "delivered", stack, 30, "the delivery")
    erp_number = storefront.call("message.get", {"message_id": message_id})["result"][
        "erp_order_no"
    ]
    console.sign_in(DEV_KEYS["ops"])
    for kind, value in (("order id", order_id), ("ERP number", erp_number), ("any", order_id)):
        console.open("/search")
        console.find("input[name=q]").send_keys(value)
        Select(console.find("select[name=kind]")).select_by_visible_text(kind)
        console.press(console.find("form.search button"))
        found = [a.text for a in console.driver.find_elements(By.CSS_SELECTOR, "td a.id")]
        assert found == [message_id], (kind, value, console.text)


def test_no_secret_is_in_any_page(
    console: Console, stack: Stack, storefront: BusClient, nav: Simulator
) -> None:
    crm = BusClient(stack.api_url, DEV_KEYS["crm"])
    contact = {"name": "Olga Smirnova", "email": "olga@10000.example", "primary": True}
    created = crm.call("account.create", {"erp_key": "10000", "contacts": [contact]})
    crm.close()
    ops = BusClient(stack.api_url, DEV_KEYS["ops"])

    def mailed() -> bool:
        steps = ops.call("message.get", {"message_id": created["message_id"]})["children"]
        return any(s["status"] == "delivered" and s["target"] == "mail" for s in steps)

    wait_for(mailed, stack, 60, "the set-password mail")
    ops.close()
    [user] = httpx.get(
        f"{stack.urls['storefront']}/_control/storefront/users", params={"customer": "10000"}
    ).json()["users"]
    link = user["set_password_url"]
    token = link.rpartition("token=")[2]
    _failed_order(stack, storefront, nav)  # an exchange with NAV's credentials in it

    console.sign_in(DEV_KEYS["ops"])
    sources = _every_page_of_customer(console, "10000")
    assert len(sources) > 5
    for path, source in sources.items():
        for secret in (link, token, *SECRETS):
            assert secret not in source, f"a secret is in the source of {path}"
        # the journal keeps the link sealed: not even its ciphertext is shown
        assert not SEALED.search(source), f"a sealed value is in the source of {path}"


def _every_page_of_customer(console: Console, customer: str) -> dict[str, str]:
    """The source of every console page about ``customer``'s messages, and of the others."""
    sources: dict[str, str] = {}
    for path in ("/", "/groups", f"/search?kind=any&q={customer}"):
        console.open(path)
        sources[path] = console.source
    ids = [a.text for a in console.driver.find_elements(By.CSS_SELECTOR, "td a.id")]
    for message_id in ids:
        console.open(f"/messages/{message_id}")
        sources[message_id] = console.source
        for link in console.driver.find_elements(By.CSS_SELECTOR, "a.id"):
            sources.setdefault(link.text, "")
    for message_id in [m for m, source in sources.items() if not source]:
        console.open(f"/messages/{message_id}")  # the steps of the customer's messages
        sources[message_id] = console.source
    return sources


def test_a_form_without_its_token_is_refused(
    console: Console, stack: Stack, storefront: BusClient, nav: Simulator
) -> None:
    _order_id, message_id = _failed_order(stack, storefront, nav)
    console.sign_in(DEV_KEYS["ops"])
    console.open(f"/messages/{message_id}")
    form = console.find("form.act")
    console.driver.execute_script("arguments[0].remove()", form.find_element(By.NAME, "csrf"))
    console.submit(form, "a forged form", "Cancel")
    assert "The form is stale" in console.text
    assert _status(storefront, message_id) == "failed"

    cookie = console.driver.get_cookie("bus_console")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    forged = httpx.post(
        f"{console.url}/messages/{message_id}/cancel",
        data={"reason": "no token"},
        cookies={"bus_console": cookie["value"]},
    )
    assert forged.status_code == 403
    assert _status(storefront, message_id) == "failed"


def test_pages_fit_a_phones_width(
    console: Console, stack: Stack, storefront: BusClient, nav: Simulator
) -> None:
    _order_id, message_id = _failed_order(stack, storefront, nav)
    console.sign_in(DEV_KEYS["ops"])
    console.driver.set_window_size(375, 812)
    for path in ("/", "/groups", f"/messages/{message_id}", "/search?kind=any&q=10000"):
        console.open(path)
        widths: Any = console.driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1], (path, widths)
