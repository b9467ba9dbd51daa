"""Proactive offers that reach people (主动服务): eligibility rules kept as data in the
catalogue (``"proactive"`` in ``data/services.json``), evaluated by one evaluator
(:mod:`.rules`) on registry events and by the daily job; residents with an account are
told by notification, those without one land on the staff outreach list of their
community or grid, where a worker records the outcome of a call or a visit.

:mod:`.models` (the offer's state and the contact log), :mod:`.rules` (the vocabulary and
the evaluator), :mod:`.services` (the outreach list, outcomes, declining, grid findings,
statistics), :mod:`.views` and :mod:`.api` (the pages and their API). The engine that makes
offers is ``services/proactive.py``.
"""
