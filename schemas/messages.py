"""``message.get``: the status of a journaled message."""

from __future__ import annotations

from schemas.base import MessageId, Params


class MessageGet(Params):
    """Params of ``message.get``."""

    message_id: MessageId
