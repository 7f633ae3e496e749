"""The one exception tree of trashmonitor, and the exit codes it maps to.

Every error class of the package is defined here, and every error the CLI can report
derives from :class:`TrashmonError` (a test scans the package for exception classes
defined anywhere else; a private ``_Name`` that never leaves its module is the one
exception). Each class carries the process exit code it stands for, the ``kind`` it is
counted under in metrics and whether trying again may help (``retryable``), so no caller
decides these case by case or from a message::

    class                          exit  kind         retryable
    TrashmonError                  2     internal     no    could not decide / act
    ├── ConfigError                2     config       no    a setting's value is wrong
    ├── ObservationError           2     unavailable  no    a source could not be read
    │   ├── UnreachableError       2     unreachable  yes   refused, timeout, DNS failure
    │   │   └── TimedOutError      2     unreachable  yes   the request's deadline passed
    │   ├── UpstreamHTTPError      2     http         no    answered with an HTTP error
    │   │   ├── TransientAPIError  2     (given)      yes   dns: 429, 5xx, lost connection
    │   │   └── CloudflareRejected 2     http         no    dns: a 4xx with Cloudflare codes
    │   ├── MalformedResponseError 2     malformed    no    not the documented shape
    │   ├── DeviceError            2     unavailable  no    capture: V4L2 device unusable
    │   └── ReleaseUnavailable     2     unreachable  yes   MediaMTX release not downloaded
    ├── ReleaseRefused             2     malformed    no    release fails its checksum
    ├── ControlError               2     internal     no    capture: a control request refused
    ├── DeviceChoiceError          2     config       no    dns: not exactly one device
    ├── AuthError                  2     auth         no    credentials missing/rejected
    └── DriftError                 1     drift        no    the world differs from the plan
        └── TailnetDeviceError     1     device       no    dns: device not seen recently

A component's metric has its own label set, a contract (docs/contracts.md): the monitor's
``trashmon_poll_errors_total{kind}`` and dns's ``trashmon_dns_errors_total{kind}``.
:func:`metric_kind` is the one rule from an error to a label of such a set: the error's
own ``kind`` when the set has it, else the set's catch-all.

Errors are raised ``from`` their cause so ``--debug`` shows it, except where the cause
may carry a secret (a header, a file's content) or hostile input a one-line message must
not echo. ``from None`` does not cut that chain: it only hides the cause from printed
tracebacks, which keep it as ``__context__``, its frames' locals reachable. Those errors
are raised after the ``except`` block, with locals holding the secret dropped, or
:func:`detached`; each says so where it is raised.

Unhealthy cameras are a *result*, not an exception: commands return EXIT_UNHEALTHY.
Messages are one line, name the setting or source involved, and never contain secrets.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the hook imports this module on every MediaMTX event, and
# typing (with collections) costs it ~3 ms; type checkers read this name alike.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection
    from typing import TypeVar

    AnyError = TypeVar("AnyError", bound=BaseException)

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


class TimedOutError(UnreachableError):
    """The request's deadline passed before its answer was read whole (a transport's
    timeout: what httpx calls a ``TimeoutException``)."""


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

    kind = "auth"


class DriftError(TrashmonError):
    """A reconcile could not bring the world to the desired state."""

    exit_code = EXIT_UNHEALTHY
    kind = "drift"


class TransientAPIError(UpstreamHTTPError):
    """429, 5xx or a dropped connection: worth another try after a pause.

    ``kind`` is the metrics label (rate_limited, server, unreachable). ``status_code`` is
    None when no answer came at all (a lost connection): never a made-up status.
    """

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None,
        kind: str,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(message, status_code)
        self.kind = kind


class CloudflareRejected(UpstreamHTTPError):
    """A 4xx the token is allowed to make but the API refused, with Cloudflare's codes."""

    def __init__(self, message: str, status_code: int, codes: tuple[int, ...]) -> None:
        self.codes = codes
        super().__init__(message, status_code)


class DeviceError(ObservationError):
    """The V4L2 device could not be queried or changed (unplugged, busy, v4l2-ctl missing)."""


class ReleaseUnavailable(ObservationError):
    """The MediaMTX release could not be downloaded (no network, refused, timed out, too
    big)."""

    kind = "unreachable"
    retryable = True


class ReleaseRefused(TrashmonError):
    """The downloaded release does not match its checksum or holds no usable binary."""

    kind = "malformed"


class ControlError(TrashmonError):
    """A V4L2 control request is not valid for this device; the message is a sentence for
    a person (it is published as is on ``trashcam/<id>/events``)."""

    def __init__(self, control: str, message: str) -> None:
        self.control = control
        super().__init__(message)


class DeviceChoiceError(TrashmonError):
    """Not exactly one usable tailnet device. ``stale``: it exists but was not seen
    recently (the reconciler then raises :class:`TailnetDeviceError`)."""

    kind = "config"

    def __init__(self, message: str, *, stale: bool = False) -> None:
        self.stale = stale
        super().__init__(message)


class TailnetDeviceError(DriftError):
    """The tailnet device is there but not usable now (not seen recently): retry later."""

    kind = "device"


def metric_kind(error: BaseException, labels: Collection[str], other: str) -> str:
    """The label ``error`` is counted under in a metric whose ``kind`` label set is
    ``labels`` (a contract): the error's own kind when the set has it, ``other``
    otherwise. An exception outside the tree (a bug, RecursionError) is of kind
    ``internal``."""
    kind = error.kind if isinstance(error, TrashmonError) else "internal"
    return kind if kind in labels else other


def detached(error: AnyError) -> AnyError:
    """``error`` without the frames it was raised through nor the exception it was
    raised while handling. ``raise … from None`` only hides that one from printed
    tracebacks: it stays the error's ``__context__``, its frames' locals reachable (a
    transport's hold an Authorization header or a password; a reader's a file's bytes),
    and a caller keeping the error in a reference cycle keeps them until a full
    collection. Raise it outside the ``except`` block, or the raise sets the handled
    exception as ``__context__`` again."""
    error.__traceback__ = None
    error.__context__ = None
    error.__cause__ = None
    return error
