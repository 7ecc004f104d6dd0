"""Doorstep server: Litestar app, SQLite storage, sync API, CLI."""
