"""One error tree: every class carries its exit code, its metric kind and whether a retry
may help, and callers read those attributes instead of deciding from types or messages."""

from __future__ import annotations

import ast
import builtins
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.processes import REPO, run_trashmon

from trashmonitor import errors
from trashmonitor.dns.model import error_kind as dns_error_kind
from trashmonitor.dns.retry import RetryPolicy
from trashmonitor.dns.tailscale_api import (
    TailscaleAPI,
    TailscaleCredentials,
    devices_from_local_cli,
)
from trashmonitor.errors import TransientAPIError
from trashmonitor.monitor.daemon import error_kind
from trashmonitor.transport import Answer, MockTransport, Request


def test_every_class_carries_exit_code_kind_and_retryable() -> None:
    table = {
        errors.TrashmonError("x"): (2, "internal", False),
        errors.ConfigError("--x", "bad"): (2, "config", False),
        errors.ObservationError("x"): (2, "unavailable", False),
        errors.UnreachableError("x"): (2, "unreachable", True),
        errors.TimedOutError("x"): (2, "unreachable", True),
        errors.UpstreamHTTPError("x", 500): (2, "http", False),
        errors.MalformedResponseError("x"): (2, "malformed", False),
        errors.AuthError("x"): (2, "auth", False),
        errors.DriftError("x"): (1, "drift", False),
        errors.TransientAPIError("x", status_code=429, kind="rate_limited"): (
            2,
            "rate_limited",
            True,
        ),
        errors.CloudflareRejected("x", 400, (81053,)): (2, "http", False),
        errors.DeviceError("x"): (2, "unavailable", False),
        errors.ReleaseUnavailable("x"): (2, "unreachable", True),
        errors.ReleaseRefused("x"): (2, "malformed", False),
        errors.ControlError("brightness", "x"): (2, "internal", False),
        errors.DeviceChoiceError("x"): (2, "config", False),
        errors.TailnetDeviceError("x"): (1, "device", False),
    }
    for error, expected in table.items():
        assert (error.exit_code, error.kind, error.retryable) == expected, type(error)


def test_the_monitor_counts_an_error_under_its_own_kind() -> None:
    class TruncatedAnswer(errors.UpstreamHTTPError):  # a new error says its kind itself
        kind = "malformed"

    assert error_kind(TruncatedAnswer("cut short", 200)) == "malformed"
    assert error_kind(errors.UnreachableError("refused")) == "unreachable"
    assert error_kind(errors.AuthError("401")) == "http"
    assert error_kind(errors.ConfigError("--x", "bad")) == "http"  # the label set is a contract
    assert error_kind(RecursionError()) == "internal"


def test_a_lost_connection_is_retryable_not_http_status_zero() -> None:
    attempts: list[Request] = []

    def refuse(request: Request) -> Answer:
        attempts.append(request)
        raise errors.UnreachableError(f"{request.url}: cannot connect (connection refused)")

    api = TailscaleAPI(
        TailscaleCredentials(api_key="tskey-test"),
        retry=RetryPolicy(attempts=2, sleep=lambda _: None),
        transport=MockTransport(refuse),
    )
    with pytest.raises(TransientAPIError) as raised:
        api.devices()
    assert raised.value.status_code is None  # no answer came: no status to report
    assert (raised.value.retryable, raised.value.kind) == (True, "unreachable")
    assert len(attempts) == 2
    assert "tskey-test" not in str(raised.value)


# Each component's metric label for each class (both label sets are contracts,
# docs/contracts.md): one rule, errors.metric_kind, with a label set per component.
LABELS = (
    # error                                                      monitor      dns
    (errors.TrashmonError("x"), "internal", "server"),
    (errors.ConfigError("--x", "bad"), "http", "config"),
    (errors.ObservationError("x"), "http", "server"),
    (errors.UnreachableError("x"), "unreachable", "unreachable"),
    (errors.TimedOutError("x"), "unreachable", "unreachable"),
    (errors.UpstreamHTTPError("x", 500), "http", "server"),
    (errors.MalformedResponseError("x"), "malformed", "malformed"),
    (errors.AuthError("x"), "http", "auth"),
    (errors.DriftError("x"), "http", "server"),
    (errors.TransientAPIError("x", status_code=429, kind="rate_limited"), "http", "rate_limited"),
    (errors.TransientAPIError("x", status_code=503, kind="server"), "http", "server"),
    (
        errors.TransientAPIError("x", status_code=None, kind="unreachable"),
        "unreachable",
        "unreachable",
    ),
    (errors.CloudflareRejected("x", 400, (81053,)), "http", "server"),
    (errors.DeviceError("x"), "http", "server"),
    (errors.ReleaseUnavailable("x"), "unreachable", "unreachable"),
    (errors.ReleaseRefused("x"), "malformed", "malformed"),
    (errors.ControlError("brightness", "x"), "internal", "server"),
    (errors.DeviceChoiceError("x"), "http", "config"),
    (errors.TailnetDeviceError("x"), "http", "device"),
)


@pytest.mark.parametrize(("error", "monitor", "dns"), LABELS, ids=lambda v: type(v).__name__)
def test_each_class_has_one_label_per_component(
    error: errors.TrashmonError, monitor: str, dns: str
) -> None:
    assert (error_kind(error), dns_error_kind(error)) == (monitor, dns)


def test_the_label_table_covers_the_whole_tree() -> None:
    tree = {
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, errors.TrashmonError)
    }
    assert {type(error) for error, _, _ in LABELS} == tree


def _package_modules() -> Iterator[Path]:
    """Every module of the installed package, wherever pyproject maps its folders from."""
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    for folder in set(setuptools["package-dir"].values()):
        yield from (REPO / folder).glob("*.py")


def _exception_classes(tree: ast.Module) -> Iterator[ast.ClassDef]:
    """Classes deriving from an exception: a builtin one, the error tree's, one named like
    an exception (``httpx.HTTPError``) or one found earlier in the same module."""
    known = {n for n in dir(builtins) if isinstance(getattr(builtins, n), type)}
    known = {n for n in known if issubclass(getattr(builtins, n), BaseException)}
    known |= {n for n, v in vars(errors).items() if isinstance(v, type)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            bases = {ast.unparse(base).rpartition(".")[2] for base in node.bases}
            if bases & known or any(b.endswith(("Error", "Exception")) for b in bases):
                known.add(node.name)
                yield node


def test_no_module_outside_errors_py_defines_an_exception_class() -> None:
    """One tree, in one file. A private class (``_Refused``) that only steers control flow
    inside its module, and is never raised out of it, is the one exception."""
    modules = list(_package_modules())
    assert REPO / "trashmonitor" / "errors.py" in modules
    assert REPO / "dns" / "model.py" in modules  # the mapped folders are scanned too
    outside = [
        f"{path.relative_to(REPO)}:{node.lineno} {node.name}"
        for path in modules
        if path.name != "errors.py" or path.parent.name != "trashmonitor"
        for node in _exception_classes(ast.parse(path.read_text(), str(path)))
        if not node.name.startswith("_")
    ]
    assert outside == []


def test_debug_shows_the_cause_behind_a_one_line_error(tmp_path: Path) -> None:
    # Chained where the cause holds no secret (issue 13): --debug shows the OS's error.
    missing = str(tmp_path / "cam1.env")
    plain = run_trashmon("capture", "--env-file", missing, cwd=tmp_path)
    debug = run_trashmon("capture", "--env-file", missing, "--debug", cwd=tmp_path)
    assert plain.returncode == debug.returncode == 2
    assert plain.stderr == f"trashmon capture: error: {missing}: env file not found\n"
    assert "direct cause of the following exception" in debug.stderr
    assert "FileNotFoundError" in debug.stderr
    assert debug.stderr.endswith(plain.stderr)


def test_a_missing_tailscale_command_keeps_its_cause(tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigError, match=r"^TS_API_KEY: not set") as raised:
        devices_from_local_cli((str(tmp_path / "tailscale"), "status", "--json"))
    assert isinstance(raised.value.__cause__, FileNotFoundError)
