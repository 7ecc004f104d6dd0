"""The web app: ``create_app``, its settings, every route, and the listener's deadlines.

Handlers are thin: decode, ask ``server.guards`` who calls and what they may see, call
``server.syncing``, ``server.live``, ``server.derived`` or a named function of
``server.db``, answer. Only ``server.ops`` (``doorstep serve``) imports this room.
"""
