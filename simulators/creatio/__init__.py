"""A Creatio (BPM'online) simulator: AuthService forms login with ``BPMCSRF``, OData 4 CRUD on
``Account``, ``Contact``, ``Order``, ``OrderProduct`` and lookups at ``/0/odata`` and ``/odata``,
``$metadata``, ``$batch`` (JSON and multipart/mixed with atomic change sets, ``$<id>``
references), and an outbound JSON-RPC hook. See :func:`create_app`.
"""

from __future__ import annotations

from simulators.creatio.app import create_app
from simulators.creatio.store import ORDER_STATUSES, SEED_ACCOUNTS, Store, seed_id

__all__ = ["ORDER_STATUSES", "SEED_ACCOUNTS", "Store", "create_app", "seed_id"]
