"""Audit and access logs: who did what, and who read whose personal data, for what purpose.

Both logs are append-only through the application (there is no update or delete path in
code, and database triggers refuse UPDATE and early DELETE — see the core migration), so
an administrator cannot silently erase a trace.
"""
