"""Deterministic demo data: two storefront users and two orders of the active one.

Customer keys match the Navision simulator's seed: 20000 (Trey Research Bistro, a licensed HORECA
customer) is an active user with orders A-1001 and A-1002; 50000 (Relecloud Hotels) is a
deactivated user, so ``user.create`` for it re-activates. 10000 and 30000 have no user yet, for
provisioning.
"""

from __future__ import annotations

from typing import Any

#: ``user.create`` params (without ``message_id``) and whether the user is active.
USERS: list[tuple[dict[str, Any], bool]] = [
    (
        {
            "customer": "20000",
            "email": "orders@trey.example",
            "name": "Trey Research Bistro",
            "inn": "7701234567",
            "kpp": "770101001",
            "segment": "licensed",
            "licence": {"number": "77RPA0012345", "address": "153 Thomas Drive, Chicago"},
            "contracts": [{"product_type": "alcohol", "number": "C-20000-A"}],
            "addresses": [{"code": "MAIN", "address": "153 Thomas Drive, Chicago"}],
            "price_group": "HORECA",
            "warehouse": "MAIN",
            "manager": {"name": "Anna Volkova", "email": "a.volkova@wholesale.example"},
            "settings": {"greeting": "Welcome back!", "menu": ["catalog", "orders", "documents"]},
            "contacts": [{"name": "Tom Trey", "email": "tom@trey.example", "phone": "+15550120"}],
        },
        True,
    ),
    (
        {
            "customer": "50000",
            "email": "orders@relecloud.example",
            "name": "Relecloud Hotels",
            "contracts": [{"product_type": "water", "number": "C-50000-W"}],
            "price_group": None,
        },
        False,
    ),
]

#: Orders of customer 20000 as the storefront holds them (version 1 each).
ORDERS: list[dict[str, Any]] = [
    {
        "order_id": "A-1001",
        "customer": "20000",
        "status": "accepted",
        "lines": [
            {"item": "1000", "quantity": 12, "price": 13.9},
            {"item": "1201", "quantity": 24, "price": 3.95},
        ],
        "erp_number": "SO-101001",
        "crm_reference": "1",
        "source": "erp",
        "changed_at": "2024-11-20T10:00:00+00:00",
    },
    {
        "order_id": "A-1002",
        "customer": "20000",
        "status": "shipped",
        "lines": [{"item": "1004", "quantity": 6, "price": 36.5}],
        "erp_number": "SO-101002",
        "crm_reference": "2",
        "source": "erp",
        "changed_at": "2024-11-21T09:30:00+00:00",
    },
]
