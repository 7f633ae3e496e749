"""No secret reachable from the error about a value or file that holds one (hook secret,
PKI key passphrase, MQTT and stream URLs): not in the error, not in its
``__cause__``/``__context__`` chain (``from None`` only hides the context from the
printout), not in the locals of any frame of their tracebacks."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from support.secret_walk import chain, leaks

from trashmonitor import demo, hook, pki
from trashmonitor.errors import ConfigError, TrashmonError
from trashmonitor.monitor.play import parse_url_template
from trashmonitor.mqtt import parse_mqtt_url

SECRET = "chain-Secr3t-5e9b1d70aa"


def found_in(error: BaseException, opaque: tuple[type, ...] = ()) -> list[str]:
    # Not inline in the assert: pytest keeps an asserted call's arguments as locals.
    return leaks(error, (SECRET,), opaque)


def test_a_bad_hook_secret_file_error_reaches_no_secret(tmp_path: Path) -> None:
    """Reproduction: the ConfigError's __context__ was the reader's ValueError, whose
    frame held the file's bytes (the secret, refused for its space)."""
    secret_file = tmp_path / "hook.secret"
    secret_file.write_text(f"{SECRET} x\n")
    with pytest.raises(ConfigError, match="TRASHMON_HOOK_SECRET_FILE") as raised:
        hook.SECRET_FILE.read({"TRASHMON_HOOK_SECRET_FILE": str(secret_file)})
    assert found_in(raised.value) == []


def test_a_wrong_key_passphrase_error_reaches_no_passphrase(tmp_path: Path) -> None:
    """Reproduction: the reading frame kept the passphrase tried (and the key's bytes) as
    locals, reachable from the ConfigError's traceback. The CaPassphrase, whose repr
    hides it, is the caller's own setting."""
    key_path = tmp_path / "ca.key"
    key_path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"the-right-passphrase"),
        )
    )
    with pytest.raises(ConfigError, match="wrong passphrase") as raised:
        pki._read_key(key_path, pki.CaPassphrase(value=SECRET.encode()))
    assert found_in(raised.value, opaque=(pki.CaPassphrase,)) == []
    assert list(chain(raised.value)) == [raised.value]


@pytest.mark.parametrize(
    "parse",
    [parse_mqtt_url, parse_url_template],
    ids=["mqtt url", "stream url template"],
)
def test_an_invalid_port_error_chains_no_urlsplit_error(parse: object) -> None:
    """Reproduction: ``from None`` kept urlsplit's error as __context__, quoting the part
    of a password with an unencoded ``/`` that it took for the port. (The parsing frame
    holds the URL it was given: the caller's own value.)"""
    url = f"mqtts://agent:{SECRET}/x@broker:8883"
    if parse is parse_url_template:
        url = f"rtsp://viewer:{SECRET}/x@mediamtx:8554/{{name}}"
    with pytest.raises(ValueError, match="invalid port") as raised:
        parse(url)  # type: ignore[operator]
    assert list(chain(raised.value)) == [raised.value]
    assert SECRET not in str(raised.value)


def test_a_failed_caddy_hash_password_error_reaches_no_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reproduction: the demo's error about ``caddy hash-password`` was chained to the
    OSError, whose traceback ran through ``subprocess.run``'s frame holding ``input=``
    (the new control password); the demo's own frame held it too."""
    monkeypatch.setattr(secrets, "token_urlsafe", lambda _: SECRET)
    with pytest.raises(TrashmonError, match="caddy hash-password") as raised:
        demo.generate_control_password(tmp_path / "secrets", str(tmp_path / "no-caddy"))
    assert found_in(raised.value) == []
