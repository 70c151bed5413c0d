"""The base of every error a user can act on (bad input, missing files, unavailable methods).

The CLI prints these as one line and the dashboard shows them as a message; anything
else is a bug and keeps its traceback (in the log, never in the browser).
"""

from __future__ import annotations


class UserError(Exception):
    """An error whose message tells the user what happened and how to fix it."""


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, UserError)
