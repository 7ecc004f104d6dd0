"""What stands before every route: who calls, and whether they may.

``caller``: the route access rules, ``authenticate`` and the request's ``Caller`` (what
the caller may see); ``sessions``: coordinators' logins, cookies and CSRF; ``ratelimit``:
per-client limits kept in the database; ``security``: headers and the path guard on every
response. The rules themselves (scopes, who may write what) are ``server.access``.
"""
