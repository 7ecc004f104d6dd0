"""Views derived from records, never stored or synced: pure functions over what
``server.db.log`` reads. ``progress``: an incident's counts and the residents' view;
``checks``: the 需核实 list.
"""
