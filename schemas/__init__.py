"""The agreed formats of the bus: one pydantic model per JSON-RPC method's params.

Every model forbids unknown fields and checks types strictly (a quantity sent as a string is an
error, not a guess), so a caller learns about a mistake at the edge with the field named.
"""

from schemas.messages import MessageGet
from schemas.orders import Delivery, OrderLine, OrderSubmit

__all__ = ["Delivery", "MessageGet", "OrderLine", "OrderSubmit"]
