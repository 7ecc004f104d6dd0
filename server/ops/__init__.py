"""The operator's side: the ``doorstep`` command (``cli``) and what only it uses.

``admin`` and ``access_commands``: invites, devices, coordinators, assignments, exports
from a short-lived process on the database; ``demo``: the demo community;
``jsonschema``: ``pwa/schema.json`` from ``schemas/``. The top room: nothing imports it.
"""
