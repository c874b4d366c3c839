"""bus: a JSON-RPC 2.0 integration bus for B2B wholesale (storefront ↔ ERP ↔ CRM)."""

__version__ = "0.1.0"
