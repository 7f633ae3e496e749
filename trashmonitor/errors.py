"""The one exception tree of trashmonitor, and the exit codes it maps to.

Every error the CLI can report derives from :class:`TrashmonError`. Each class carries
the process exit code it stands for, the ``kind`` label it is counted under in metrics
(``trashmon_poll_errors_total{kind}``) and whether trying again may help
(``retryable``), so no caller decides these case by case or from a message::

    class                          exit  kind         retryable
    TrashmonError                  2     internal     no    could not decide / act
    ├── ConfigError                2     config       no    a setting's value is wrong
    ├── ObservationError           2     unavailable  no    a source could not be read
    │   ├── UnreachableError       2     unreachable  yes   refused, timeout, DNS failure
    │   ├── UpstreamHTTPError      2     http         no    answered with an HTTP error
    │   └── MalformedResponseError 2     malformed    no    not the documented shape
    ├── AuthError                  2     http         no    credentials missing/rejected
    └── DriftError                 1     drift        no    the world differs from the plan

A subclass may refine ``retryable`` (dns's ``TransientAPIError``: 429 and 5xx answers).
Errors are raised ``from`` their cause so ``--debug`` shows it, except where the cause
may carry a secret (a header, a file's content): those say so where they cut the chain.

Unhealthy cameras are a *result*, not an exception: commands return EXIT_UNHEALTHY.
Messages are one line, name the setting or source involved, and never contain secrets.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_UNHEALTHY = 1
EXIT_UNDECIDED = 2
EXIT_INTERRUPTED = 130


class TrashmonError(Exception):
    """Base of every error trashmonitor reports to a person."""

    exit_code: int = EXIT_UNDECIDED
    kind: str = "internal"
    """The metric label this error is counted under."""
    retryable: bool = False
    """Another attempt may succeed (the source may come back); never true for a refusal."""

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line message would break log parsing and the CLI.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(TrashmonError):
    """A flag, environment variable or env-file key has a missing or invalid value."""

    kind = "config"

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        super().__init__(f"{setting}: {problem}")


class ObservationError(TrashmonError):
    """Something we observe (MediaMTX, a device, an API) could not be read."""

    kind = "unavailable"


class UnreachableError(ObservationError):
    """The source did not answer: refused, timed out, name not resolved."""

    kind = "unreachable"
    retryable = True


class UpstreamHTTPError(ObservationError):
    """The source answered with an HTTP status that is not success (``status_code``; None
    only for a subclass that stands for no answer at all, such as a lost connection)."""

    kind = "http"

    def __init__(self, message: str, status_code: int | None) -> None:
        self.status_code = status_code
        super().__init__(message)


class MalformedResponseError(ObservationError):
    """The source answered, but not in the documented shape (HTML, bad JSON, wrong types)."""

    kind = "malformed"


class AuthError(TrashmonError):
    """Credentials are missing, rejected (401) or lack a permission (403)."""

    # Counted with the other refusals of an HTTP source (the metric's label set is a
    # contract: docs/contracts.md).
    kind = "http"


class DriftError(TrashmonError):
    """A reconcile could not bring the world to the desired state."""

    exit_code = EXIT_UNHEALTHY
    kind = "drift"
