"""What the steps that keep an order's ERP and CRM in step hand to each other.

An order lives in three systems after it was created: the storefront, the ERP and the CRM. When
one of them changes it, the bus carries the change to the others as configured (``[ownership]``).
The steps that do it need to know where the order is in each system, which only the journal
knows (the order's own steps made it there): :class:`OrderReferences`. A CRM step that writes the
order reads it first (:class:`CrmSnapshot`), so the change event its write causes in the CRM is
known as the bus's own echo and not carried back.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from pydantic import Field, StringConstraints

from schemas.steps import StepFact

Reference = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class OrderReferences(StepFact):
    """Where an order is in the ERP and the CRM, as the journal knows from the order's steps.

    Parameters:
        made_by: the message that made the order known (``order.submit`` or ``order.merge``).
        erp_number: the ERP's number of the order (``None``: the ERP holds no order of it, as
            for a pick-up order that went to the CRM only, or its ERP step is not delivered).
        erp_key: the ERP's own key of the order where it is not the number (1C's ``Ref_Key``);
            else the number.
        crm_reference: the CRM's id of the order (a Bitrix24 deal's ``ID``, a Creatio
            ``Order.Id``); ``None``: the CRM has no order of it.
    """

    #: The key a step's result stores the references under.
    KEY: ClassVar[str] = "order_references"

    order_id: Reference
    made_by: Reference
    erp_number: Reference | None = None
    erp_key: Reference | None = None
    crm_reference: Reference | None = None

    def as_fact(self) -> dict[str, Any]:
        """The references as a step's result carries them (JSON-ready)."""
        return {self.KEY: self.model_dump(mode="json")}

    @classmethod
    def from_fact(cls, value: Any) -> OrderReferences | None:
        """The references from a stored result's ``KEY`` value; ``None`` when there are none.

        Raises:
            pydantic.ValidationError: the value is not references.
        """
        return None if value is None else cls.model_validate(value)


class CrmLine(StepFact):
    """One row of the CRM's order as the CRM shows it (``unit`` as the CRM names it)."""

    item: Reference
    quantity: float
    unit: str | None = None
    price: float = 0.0


class CrmSnapshot(StepFact):
    """The CRM's order as it is before the bus writes it: its status and rows.

    Parameters:
        reference: the CRM's id of the order.
        crm_status: the CRM's own word (a Bitrix24 ``STAGE_ID``, a Creatio ``OrderStatus.Name``).
        lines: its rows.
    """

    KEY: ClassVar[str] = "crm_snapshot"

    reference: Reference
    crm_status: str | None = None
    lines: Annotated[list[CrmLine], Field(default_factory=list)]

    def as_fact(self) -> dict[str, Any]:
        """The snapshot as a step's result carries it (JSON-ready)."""
        return {self.KEY: self.model_dump(mode="json")}

    @classmethod
    def from_fact(cls, value: Any) -> CrmSnapshot | None:
        """The snapshot from a stored result's ``KEY`` value; ``None`` when there is none.

        Raises:
            pydantic.ValidationError: the value is not a snapshot.
        """
        return None if value is None else cls.model_validate(value)
