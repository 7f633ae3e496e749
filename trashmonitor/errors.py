"""The one exception tree of trashmonitor, and the exit codes it maps to.

Every error the CLI can report derives from :class:`TrashmonError`. Each class carries
the process exit code it stands for, so the CLI never decides codes case by case::

    TrashmonError                 exit 2  could not decide / could not act
    ├── ConfigError               exit 2  a setting, flag or env file value is wrong
    ├── ObservationError          exit 2  a source could not be read
    │   ├── UnreachableError      exit 2  connection refused, timeout, DNS failure
    │   ├── UpstreamHTTPError     exit 2  the source answered with an HTTP error
    │   └── MalformedResponseError exit 2 the answer is not what the source documents
    ├── AuthError                 exit 2  credentials missing, rejected or lacking a scope
    └── DriftError                exit 1  a reconcile left the world different from the plan

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

    def __init__(self, message: str) -> None:
        # One line, always: a multi-line message would break log parsing and the CLI.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(TrashmonError):
    """A flag, environment variable or env-file key has a missing or invalid value."""

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        super().__init__(f"{setting}: {problem}")


class ObservationError(TrashmonError):
    """Something we observe (MediaMTX, a device, an API) could not be read."""


class UnreachableError(ObservationError):
    """The source did not answer: refused, timed out, name not resolved."""


class UpstreamHTTPError(ObservationError):
    """The source answered with an HTTP status that is not success."""

    def __init__(self, message: str, status_code: int) -> None:
        self.status_code = status_code
        super().__init__(message)


class MalformedResponseError(ObservationError):
    """The source answered, but not in the documented shape (HTML, bad JSON, wrong types)."""


class AuthError(TrashmonError):
    """Credentials are missing, rejected (401) or lack a permission (403)."""


class DriftError(TrashmonError):
    """A reconcile could not bring the world to the desired state."""

    exit_code = EXIT_UNHEALTHY
