"""The ledger import (#19): a community's 住户台账 in, as ordinary records.

``address`` parses household addresses (pure, reused for hotline tickets); ``reader``
opens an untrusted .xlsx or .csv; ``columns`` and ``table`` place the columns and read
the rows; ``importer`` compares with the records and writes the difference.
"""
