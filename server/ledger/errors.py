"""The one error of the ledger import: a code the console words, a Chinese line for the
command line."""

from typing import Any

from server.errors import BadRequestError

__all__ = ["LedgerError"]


class LedgerError(BadRequestError):
    """The file cannot be imported at all; nothing is written.

    ``code`` names the problem for the console (pwa/js/i18n), ``message`` says it in
    Chinese for the command line, ``details`` carries what a person needs to fix it
    (the columns that could not be placed).
    """

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message, code=f"ledger_{code}", details=details)
