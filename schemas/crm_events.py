"""``creatio.order_changed``: Creatio's business process reports that an order was edited.

Creatio has no outbound event API; an integrator's process with a [Call web service] element
calls the bus when an order is saved. The bus reads the order and updates the storefront's,
unless the order shows what the bus itself last wrote there (its own echo).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import Field

from schemas.base import Params


class CreatioOrderChanged(Params):
    """Params of ``creatio.order_changed``: the ``Id`` of the Creatio ``Order`` that was saved."""

    order_id: Annotated[uuid.UUID, Field(strict=False)]
    modified_on: Annotated[dt.datetime | None, Field(strict=False)] = None
