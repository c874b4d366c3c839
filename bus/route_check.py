"""Every step a deployment can journal is an operation its system's adapter performs.

Routes name steps as ``role:operation`` (``bus.routing``, ``[[order_routes]]``), and the bus
journals notices of its own (a failure's mail and CRM note, the storefront's status notice). A
misspelt operation would be journaled and then fail at every delivery; it is caught here instead,
when ``bus serve`` or ``bus worker`` starts, against the operations each adapter declares
(:attr:`bus.adapters.base.Adapter.operations`), for the deployment's own ERP and CRM and the flows
its ``[ownership]`` carries.
"""

from __future__ import annotations

from collections.abc import Iterator

from bus.adapters import OPERATIONS
from bus.journal.notices import MAIL_OPERATION, NOTICE_METHOD, REPORT_METHOD
from bus.routing import ROUTES
from bus.settings import Settings

#: The steps the bus journals of its own accord: a failure's notices.
NOTICE_STEPS = (("storefront", NOTICE_METHOD), ("mail", MAIL_OPERATION), ("crm", REPORT_METHOD))


def unserved_steps(settings: Settings) -> list[str]:
    """One line per step of ``settings``' deployment that no adapter performs; none: all served."""
    problems = []
    for where, role, operation in _steps(settings):
        system = settings.system(role)
        served = OPERATIONS.get(system, frozenset())
        if operation not in served:
            known = ", ".join(sorted(served)) or "nothing"
            problems.append(
                f"{where}: step {role}:{operation}: {system} has no operation {operation!r}"
                f" (it performs: {known})"
            )
    return problems


def _steps(settings: Settings) -> Iterator[tuple[str, str, str]]:
    """``(where, role, operation)`` of every step the deployment can journal."""
    for method, route in ROUTES.items():
        if route.crm is not None and route.crm != settings.crm:
            continue  # another CRM's event: this deployment never journals it
        for step in route.steps:
            if settings.ownership.enabled(step.when):
                yield f"route {method}", step.role, step.operation
    for rule in settings.order_routes:
        for named in rule.steps:
            role, _, operation = named.partition(":")
            yield f"order route {rule.name!r}", role, operation
    for role, operation in NOTICE_STEPS:
        yield "failure notices", role, operation
