"""One sync round trip (``POST /api/v1/sync``): judge what a phone pushes, write it, answer.

Not the pure algorithm (the top-level ``sync/`` package: clock, merge, validation) and
not its SQL (``server.db.syncs``): the step between them, called by ``server.http.phones``.
"""
