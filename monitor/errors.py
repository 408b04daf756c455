"""Every error monitor raises on purpose.

    MonitorError
    ├── ConfigError          the configuration is invalid; carries every Problem found
    ├── QueryError           a rule's query does not parse; carries the column
    ├── FetchError           a feed could not be fetched (permanent=True: do not hurry back)
    ├── ParseError           fetched bytes are not a feed we will read
    ├── DeliveryError        a channel refused or failed to take an alert
    └── StoreError           the database cannot be opened, or another process writes to it

The CLI turns these into one-line messages; the daemon logs them and carries on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class MonitorError(Exception):
    """Base of every error monitor raises on purpose."""


class Severity(StrEnum):
    """How bad a configuration problem is: an error stops `run` and `poll` from starting."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration, located for an editor: path:line:col."""

    path: str
    line: int
    col: int
    message: str
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        """True for an error, False for a warning."""
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        # Errors keep the compiler's bare form; warnings are marked, as gcc and clang do.
        label = "" if self.is_error else f"{self.severity.value}: "
        return f"{self.path}:{self.line}:{self.col}: {label}{self.message}"


class ConfigError(MonitorError):
    """The configuration has problems; `problems` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class QueryError(MonitorError):
    """A query does not parse. `column` is 1-based within the query text."""

    def __init__(self, message: str, column: int) -> None:
        self.message = message
        self.column = column
        super().__init__(f"column {column}: {message}")


class FetchError(MonitorError):
    """A feed could not be fetched. Permanent errors (404, 410, bad URL) will not mend soon."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        self.permanent = permanent
        super().__init__(message)


class ParseError(MonitorError):
    """The bytes are not a feed we will read (not XML, entity declarations, no items)."""


class DeliveryError(MonitorError):
    """A channel did not accept an alert; the alert stays pending.

    `unknown`: the request went out but no answer came in time, so the service may have
    the message; `retry_after`: seconds the service asked us to wait (HTTP 429/503)."""

    def __init__(
        self, message: str, *, unknown: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.unknown = unknown
        self.retry_after = retry_after


class StoreError(MonitorError):
    """The database cannot be opened or used; the message names it."""
