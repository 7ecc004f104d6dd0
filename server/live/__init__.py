"""Live: what is pushed to open streams as it happens, without being asked.

``broker`` tails the change log and fans it out (coordinators' changes and progress,
volunteers' nudges, residents' view); ``residents`` serves the residents' stream lean;
``push`` sends Web Push when the residents' view changes; ``wiring`` starts them with the
app. "Live" means this room only; the database's ``live=True`` reads are another thing: a
connection of their own for the tailer and the public pages, so they never wait behind
sync requests (``server.db.interface``).
"""
