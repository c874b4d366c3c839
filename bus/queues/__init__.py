"""Queued delivery: the broker (Redis or in-process), the deliver actor, sweeper, retry policy."""
