"""Doorstep server, in rooms by capability; each imports only the rooms below it.

``ops`` (the ``doorstep`` command) → ``http`` (the Litestar app and its routes) →
``ledger`` and ``live`` → ``guards``, ``syncing`` and ``derived`` → ``db`` (all SQL, on
SQLite or PostgreSQL) → ``access``, ``errors`` and ``words``, the vocabulary every room
shares. The order is ``[tool.importlinter]`` in pyproject.toml, checked by
tests/test_layers.py.
"""
