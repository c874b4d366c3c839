"""The message journal: the SQL source of truth for every command the bus accepts.

Modules: ``tables`` (schema), ``accept`` (journaling a batch of commands), ``delivery`` (claim and
finish), ``sweep`` (what is due and not queued), ``queries`` (reading), ``operator`` (replay and
cancel). The queue only carries message ids as wake-up signals; everything else lives here.
"""
