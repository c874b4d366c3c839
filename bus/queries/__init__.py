"""Real-time queries that pass through to a system under a time budget (not journaled)."""
