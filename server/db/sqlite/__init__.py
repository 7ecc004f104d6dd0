"""The SQLite engine: the embedded default (docs/database.md)."""
