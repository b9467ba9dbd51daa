"""Audit and access logs: who did what, and who read whose personal data, for what purpose.

Both logs are append-only through the application (there is no update or delete path in
code, and database triggers refuse UPDATE and early DELETE — see the core migrations), so
an administrator cannot silently erase a trace. The one UPDATE the access log allows is
the aggregation of identical displays of a day: ``count`` and ``last_at`` may grow,
nothing else may change (``services.log_access``; ``describe`` says it in plain words).
"""
