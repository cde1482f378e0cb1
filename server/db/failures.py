"""What kind of failure a database error is — the one place that decides, for the HTTP
edge (``server.http_errors``) and the push (``sync.push``):

- ``transient``: busy, locked, unreachable, a serialization failure or deadlock (SQLSTATE
  classes 08, 40, 53, 57, 58; 55P03 lock not available, 55000 and 55006 a database
  not accepting connections, 3D000 a database that is gone; SQLite's "database is
  locked"): nothing was lost, the caller retries (503 ``retry_later``);
- ``data``: a value the database cannot hold (class 22: a NUL in a text, a number out of
  range…): the caller's input, 422, never worth retrying;
- ``integrity``: a constraint (class 23): a race lost to another writer, 409;
- ``other``: our own bug (a statement that cannot run): 500, logged.

asyncpg reports the SQLSTATE on the driver's exception (``orig.sqlstate``); its data
errors reach SQLAlchemy as a plain ``DBAPIError``, which must not read as "unavailable".
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["Failure", "classify", "is_transient", "sqlstate"]

Failure = Literal["transient", "data", "integrity", "other"]

_TRANSIENT_CLASSES = {"08", "40", "53", "57", "58"}
_TRANSIENT_CODES = {
    "55P03",  # lock not available
    "55000",  # object not in prerequisite state: "database is not accepting connections"
    "55006",  # object in use
    "3D000",  # the database does not exist (dropped or not yet created): away, not input
}


def sqlstate(exc: BaseException) -> str | None:
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 8:
        for candidate in (cause, getattr(cause, "orig", None)):
            code = getattr(candidate, "sqlstate", None)
            if isinstance(code, str) and len(code) == 5:
                return code
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


def classify(exc: BaseException) -> Failure | None:
    """The kind of a database failure; ``None`` when ``exc`` is not one."""
    if isinstance(exc, PoolTimeout | ConnectionError):
        return "transient"
    if not isinstance(exc, DBAPIError):
        return "transient" if isinstance(exc, OSError) else None
    if exc.connection_invalidated:
        return "transient"
    code = sqlstate(exc)
    if code is not None:
        if code[:2] in _TRANSIENT_CLASSES or code in _TRANSIENT_CODES:
            return "transient"
        if code[:2] == "22":
            return "data"
        if code[:2] == "23":
            return "integrity"
        return "other"
    if isinstance(exc, DataError):
        return "data"
    if isinstance(exc, IntegrityError):
        return "integrity"
    if isinstance(exc, OperationalError):  # SQLite: busy or locked
        return "transient"
    return "transient"  # a driver error without a code: the connection, most likely


def is_transient(exc: BaseException) -> bool:
    """Busy, locked or unreachable: the phone keeps its mutations and resends them."""
    return classify(exc) == "transient"
