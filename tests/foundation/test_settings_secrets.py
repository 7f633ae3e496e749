"""No secret reachable from a ConfigError about a file or value that holds one: not in
the error, not in its ``__cause__``/``__context__`` chain (``from None`` only hides the
context from the printout), not in the locals of any frame of their tracebacks."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from support.secret_walk import chain, leaks

from trashmonitor.errors import ConfigError
from trashmonitor.monitor import config
from trashmonitor.monitor.mediamtx_http import CREDENTIALS_FILE_MAX_BYTES
from trashmonitor.monitor.sites import Site
from trashmonitor.settings import ReadSettings, parse_http_url, parse_setting, read_env_file

SECRET = "seed-Secr3t-9c41d"
# Written by name in a helper: a test's own frame is in the walked traceback too.
FILES = {
    "env not UTF-8": f"TS_AUTHKEY={SECRET}\nNOTE=caf\xe9\n".encode("latin-1"),
    "env too big": f"TS_AUTHKEY={SECRET}\n".encode() + b"#" * (1 << 20),
    "credentials too big": f"monitor:{SECRET}\n".encode() + b"#" * CREDENTIALS_FILE_MAX_BYTES,
    "credentials not UTF-8": f"monitor:{SECRET}\xff\n".encode("latin-1"),
}


def found_in(error: BaseException) -> list[str]:
    # Not inline in the assert: pytest keeps an asserted call's arguments as locals.
    return leaks(error, (SECRET,))


def written(path: Path, kind: str) -> Path:
    path.write_bytes(FILES[kind])
    return path


def test_a_non_utf8_env_file_error_reaches_no_secret(tmp_path: Path) -> None:
    """Reproduction: the ConfigError's __context__ was the UnicodeDecodeError holding the
    file's bytes, the seed's secrets among them."""
    env = written(tmp_path / "seed.env", "env not UTF-8")
    with pytest.raises(ConfigError, match="not UTF-8") as raised:
        read_env_file(env)
    assert found_in(raised.value) == []


def test_a_too_big_env_file_error_reaches_no_secret(tmp_path: Path) -> None:
    env = written(tmp_path / "seed.env", "env too big")
    with pytest.raises(ConfigError, match="larger than 1 MiB") as raised:
        read_env_file(env)
    assert found_in(raised.value) == []


@pytest.mark.parametrize("kind", ["credentials too big", "credentials not UTF-8"])
def test_a_site_credentials_error_reaches_no_password(tmp_path: Path, kind: str) -> None:
    """Reproduction: the ConfigError kept the reader's ValueError as __context__, whose
    traceback held the file's bytes (for a too-big file, as a local of the reader)."""
    (tmp_path / "sites").mkdir()
    written(tmp_path / "sites" / "garage", kind)
    parser = argparse.ArgumentParser()
    config.SETTINGS.add_arguments(parser, "monitor")
    settings = config.SETTINGS.read(
        parser.parse_args(["--site-credentials-dir", str(tmp_path / "sites")]), "monitor", {}
    )
    with pytest.raises(ConfigError, match=r"^--site-credentials-dir: site garage:") as raised:
        config.site_client_settings(settings, Site("garage", "http://b"))
    assert found_in(raised.value) == []


def test_a_bad_hook_secret_error_keeps_no_context() -> None:
    """Reproduction: the checker's ValueError stayed __context__, its frame holding the
    secret. (The reading frame holds the environment the secret came from: the
    process's own, not something the error adds.)"""
    with pytest.raises(ConfigError, match="TRASHMON_HOOK_SECRET") as raised:
        config.hook_secret(config_settings(), {"TRASHMON_HOOK_SECRET": SECRET + " spaced"})
    assert (raised.value.__context__, raised.value.__cause__) == (None, None)
    assert SECRET not in str(raised.value)


def config_settings() -> ReadSettings:
    parser = argparse.ArgumentParser()
    config.SETTINGS.add_arguments(parser, "monitor")
    return config.SETTINGS.read(parser.parse_args([]), "monitor", {})


def test_a_setting_error_chains_no_parser_error() -> None:
    """Reproduction: ``from None`` kept urlsplit's error as __context__, quoting the part
    of a password with an unencoded ``/`` that it took for the port."""
    url = "http://monitor:Pa55/word@mediamtx:9997"  # the port urlsplit sees: "Pa55"
    with pytest.raises(ConfigError, match="invalid port") as raised:
        parse_setting("--api", url, parse_http_url, hide=lambda _: "http://***@mediamtx:9997")
    assert list(chain(raised.value)) == [raised.value]
    assert "Pa55" not in str(raised.value)
