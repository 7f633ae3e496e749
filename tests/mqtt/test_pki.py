"""`trashmon pki`: the certificate chain, key protection and the rendered broker config."""

from __future__ import annotations

import datetime as dt
import os
import pwd
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from support.docs import generated_table
from support.processes import REPO, clean_environ, run_trashmon

from trashmonitor.errors import ConfigError
from trashmonitor.mqtt import MAX_PACKET_BYTES
from trashmonitor.pki import (
    PASSPHRASE_ENV,
    SETTINGS,
    CaPassphrase,
    Layout,
    PkiRequest,
    certificate_expiry,
    create_pki,
    read_clients,
    revoke,
    revoked_serials,
    show,
)
from trashmonitor.settings import parse_ip

NO_PASSPHRASE = CaPassphrase(encrypt=False)
PASSPHRASE = "correct horse battery staple"


def _request(directory: Path, **overrides: object) -> PkiRequest:
    base: dict[str, object] = {
        "directory": directory,
        "cameras": ("cam1",),
        "monitors": ("monitor",),
        "dns_names": ("broker.example",),
        "ips": (parse_ip("127.0.0.1"),),
        "passphrase": CaPassphrase(encrypt=False),
    }
    base.update(overrides)
    return PkiRequest(**base)  # type: ignore[arg-type]


def test_chain_root_intermediate_leaf_verifies_with_openssl(tmp_path: Path) -> None:
    layout = create_pki(_request(tmp_path))
    for leaf in (layout.cert("server"), layout.client_cert("cam1")):
        result = subprocess.run(
            [
                "openssl",
                "verify",
                "-CAfile",
                str(layout.cert("root-ca")),
                "-untrusted",
                str(layout.cert("intermediate-ca")),
                str(leaf),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_client_cert_names_identity_and_is_for_client_auth_only(tmp_path: Path) -> None:
    layout = create_pki(_request(tmp_path))
    cert = x509.load_pem_x509_certificates(layout.client_cert("cam1").read_bytes())[0]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "cam1"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    server = x509.load_pem_x509_certificates(layout.cert("server").read_bytes())[0]
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["broker.example"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert read_clients(layout) == {"cam1": "camera", "monitor": "monitor"}


def test_private_keys_are_0600_and_certs_readable(tmp_path: Path) -> None:
    layout = create_pki(_request(tmp_path))
    keys = sorted(tmp_path.rglob("*.key"))
    assert len(keys) == 5  # root, intermediate, server, cam1, monitor
    server_key = layout.key("server")
    assert {stat.S_IMODE(k.stat().st_mode) for k in keys if k != server_key} == {0o600}
    # mosquitto, started as root, reads its key as the `mosquitto` account: group read,
    # for that group only (as non-root the key stays ours alone)
    if os.geteuid() == 0:
        assert stat.S_IMODE(server_key.stat().st_mode) == 0o640
        assert server_key.stat().st_gid == pwd.getpwnam("mosquitto").pw_gid
        assert stat.S_IMODE(layout.broker_dir.stat().st_mode) == 0o750
    else:
        assert stat.S_IMODE(server_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.chain.stat().st_mode) == 0o644


def test_rerun_keeps_existing_keys_and_adds_new_cameras(tmp_path: Path) -> None:
    layout = create_pki(_request(tmp_path))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.key")}
    create_pki(_request(tmp_path, cameras=("cam1", "cam2")))
    assert all(p.read_bytes() == data for p, data in before.items())
    assert layout.client_key("cam2").exists()
    assert "user cam2" in layout.acl.read_text()


def test_force_reissues_only_what_is_named(tmp_path: Path) -> None:
    layout = create_pki(_request(tmp_path, cameras=("cam1", "cam2")))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.key")}
    create_pki(_request(tmp_path, cameras=("cam1",), monitors=(), dns_names=(), ips=(),
                        force=True))  # fmt: skip
    changed = {p.name for p, data in before.items() if p.read_bytes() != data}
    assert changed == {"cam1.key"}
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(layout.chain), str(layout.client_cert("cam1"))],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout


def test_new_ca_reissues_every_certificate_keeping_names(tmp_path: Path) -> None:
    layout = create_pki(_request(tmp_path, cameras=("cam1", "cam2")))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.key")}
    create_pki(_request(tmp_path, cameras=(), monitors=(), dns_names=(), ips=(), new_ca=True))
    assert all(p.read_bytes() != data for p, data in before.items())
    assert read_clients(layout) == {"cam1": "camera", "cam2": "camera", "monitor": "monitor"}
    server = x509.load_pem_x509_certificates(layout.cert("server").read_bytes())[0]
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["broker.example"]
    for leaf in (layout.cert("server"), layout.client_cert("cam2")):
        verify = subprocess.run(
            ["openssl", "verify", "-CAfile", str(layout.chain), str(leaf)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert verify.returncode == 0, verify.stdout


def test_encrypted_ca_keys_need_the_passphrase_to_extend(tmp_path: Path) -> None:
    create_pki(_request(tmp_path, passphrase=CaPassphrase(b"s3cret-passphrase")))
    assert b"ENCRYPTED" in Layout(tmp_path).key("intermediate-ca").read_bytes()
    with pytest.raises(ConfigError, match="encrypted"):
        create_pki(_request(tmp_path, cameras=("cam2",), passphrase=CaPassphrase()))
    with pytest.raises(ConfigError, match="wrong passphrase"):
        create_pki(_request(tmp_path, cameras=("cam2",), passphrase=CaPassphrase(b"nope-nope")))
    create_pki(_request(tmp_path, cameras=("cam2",), passphrase=CaPassphrase(b"s3cret-passphrase")))
    assert Layout(tmp_path).client_cert("cam2").exists()


def test_nothing_to_sign_needs_no_passphrase(tmp_path: Path) -> None:
    create_pki(_request(tmp_path, passphrase=CaPassphrase(b"s3cret-passphrase")))
    # re-running with nothing new (e.g. to regenerate the config) must not unlock the CA
    create_pki(_request(tmp_path, passphrase=CaPassphrase()))


def test_a_prompted_passphrase_is_asked_twice_for_new_keys(tmp_path: Path) -> None:
    answers = iter(["first-passphrase", "other-passphrase"])
    with pytest.raises(ConfigError, match="differ"):
        create_pki(_request(tmp_path, passphrase=CaPassphrase(prompt=lambda _: next(answers))))
    asked: list[str] = []

    def prompt(question: str) -> str:
        asked.append(question)
        return "typed-passphrase"

    create_pki(_request(tmp_path, passphrase=CaPassphrase(prompt=prompt)))
    assert len(asked) == 2  # once to choose it, once to confirm; both CA keys share it
    key_pem = Layout(tmp_path).key("root-ca").read_bytes()
    assert b"ENCRYPTED" in key_pem
    serialization.load_pem_private_key(key_pem, b"typed-passphrase")


def test_acl_gives_each_identity_least_privilege(tmp_path: Path) -> None:
    layout = create_pki(_request(tmp_path, cameras=("cam1", "cam2"), controllers=("ops",)))
    blocks = {b.split("\n", 1)[0]: b for b in layout.acl.read_text().split("\n\n") if "user" in b}
    assert blocks["user cam1"].splitlines()[1:] == [
        "topic write trashcam/cam1/status",
        "topic write trashcam/cam1/state",
        "topic write trashcam/cam1/events",
        "topic read trashcam/cam1/control/settings",
        "topic read trashcam/cam1/control/action",
        "topic write trashcam/cam1/camera",
        "topic write trashcam/cam1/controls",
        "topic write homeassistant/device/cam1/config",
        "topic read homeassistant/status",
    ]
    # the monitor daemon observes: it reads (status, state, the panel's topics), writes nothing
    assert blocks["user monitor"].splitlines()[1:] == [
        "topic read trashcam/+/status",
        "topic read trashcam/+/state",
        "topic read trashcam/+/controls",
        "topic read trashcam/+/camera",
        "topic read trashcam/+/events",
    ]
    assert blocks["user ops"].splitlines()[1:] == [
        "topic write trashcam/+/control/#",
        "topic read trashcam/+/events",
        "topic read trashcam/+/status",
        "topic read trashcam/+/state",
        "topic read trashcam/+/camera",
        "topic read trashcam/+/controls",
        "topic read homeassistant/device/+/config",
        "topic write homeassistant/status",
    ]
    # no seed camera chosen: nobody gets the seed's un-namespaced topics
    assert "topic read camera/" not in layout.acl.read_text()
    assert "topic write camera/" not in layout.acl.read_text()
    conf = layout.mosquitto_conf.read_text().splitlines()
    broker = layout.broker_dir.resolve()
    for line in (
        "require_certificate true",
        "use_identity_as_username true",
        "use_username_as_clientid true",
        f"max_packet_size {MAX_PACKET_BYTES}",
        f"crlfile {broker / 'crl.pem'}",
        f"cafile {broker / 'ca-chain.crt'}",
        "allow_anonymous false",
        "listener 8883",
    ):
        assert line in conf


def test_expiry_helper_and_show(tmp_path: Path) -> None:
    layout = create_pki(_request(tmp_path))
    expiry = certificate_expiry([layout.client_cert("cam1"), layout.cert("root-ca"), layout.chain])
    now = dt.datetime.now(dt.UTC)
    assert set(expiry) == {"cam1.crt", "root-ca.crt", "ca-chain.crt"}
    # the chain (intermediate + root) expires with its intermediate
    assert 1824 < (expiry["ca-chain.crt"] - now.timestamp()) / 86400 <= 1825
    assert 824 < (expiry["cam1.crt"] - now.timestamp()) / 86400 <= 825
    assert 3649 < (expiry["root-ca.crt"] - now.timestamp()) / 86400 <= 3650
    lines, expired = show(tmp_path, now)
    assert not expired
    assert any(line.startswith("clients/cam1.crt") for line in lines)
    _, expired_later = show(tmp_path, now + dt.timedelta(days=826))
    assert expired_later


def _pki(*args: str, passphrase: str | None = PASSPHRASE) -> subprocess.CompletedProcess[str]:
    """The real CLI, stdin not a terminal, the passphrase (if any) in the environment."""
    env = clean_environ() if passphrase is None else clean_environ(**{PASSPHRASE_ENV: passphrase})
    return run_trashmon("pki", *args, env=env, stdin="")


def test_cli_create_and_show(tmp_path: Path) -> None:
    created = _pki(
        "create", str(tmp_path / "p"), "--camera", "cam1", "--ip", "127.0.0.1", "--port", "18883"
    )
    assert created.returncode == 0, created.stderr
    assert "created" in created.stdout
    assert "listener 18883" in (tmp_path / "p" / "broker" / "mosquitto.conf").read_text()
    shown = _pki("show", str(tmp_path / "p"))
    assert shown.returncode == 0
    assert "cam1" in shown.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--camera", "cam/1", "--ip", "127.0.0.1"], "--camera: 'cam/1' is not a valid id"),
        (["--camera", "c", "--ip", "not-an-ip"], "--ip: expected an IP address"),
        (["--camera", "c"], "needs at least one name"),
        (["--camera", "m", "--monitor", "m", "--ip", "::1"], "named as both"),
        (["--ip", "::1", "--ca-password-env", "NO_SUCH_VAR_X"], "NO_SUCH_VAR_X is not set"),
        (["--camera", "monitor", "--ip", "::1"], "'monitor' is a role name"),
        (["--camera", "Controller", "--ip", "::1"], "'Controller' is a role name"),
        (["--controller", "ops", "--monitor", "ops", "--ip", "::1"], "named as both"),
        (["--ip", "::1", "--no-ca-password"], f"conflicts with {PASSPHRASE_ENV}"),
        (
            ["--camera", "c", "--seed-camera", "a/b", "--ip", "::1"],
            "--seed-camera: 'a/b' is not a valid id",
        ),
        (
            ["--camera", "c", "--seed-camera", "ghost", "--ip", "::1"],
            "--seed-camera: 'ghost' is not a camera of this PKI",
        ),
        (
            ["--controller", "ops", "--seed-camera", "ops", "--ip", "::1"],
            "--seed-camera: 'ops' is not a camera of this PKI",
        ),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    result = _pki("create", str(tmp_path / "p"), *args)
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_cli_show_on_empty_directory(tmp_path: Path) -> None:
    result = _pki("show", str(tmp_path))
    assert result.returncode == 2
    assert "no certificates found" in result.stderr


@pytest.mark.parametrize(
    ("passphrase", "expected"),
    [
        (None, f"{PASSPHRASE_ENV}: needed to encrypt the new CA keys"),
        ("", f"{PASSPHRASE_ENV}: is set but empty"),
        ("short", f"{PASSPHRASE_ENV}: use a passphrase of at least 8 characters"),
    ],
)
def test_cli_encrypts_by_default_and_needs_a_passphrase(
    tmp_path: Path, passphrase: str | None, expected: str
) -> None:
    result = _pki("create", str(tmp_path / "p"), "--ip", "::1", passphrase=passphrase)
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.key"))  # refused before any key was made


def test_ca_keys_are_encrypted_by_default_and_absent_from_service_directories(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "p"
    created = _pki(
        "create", str(directory), "--camera", "cam1", "--controller", "ops", "--ip", "::1"
    )
    assert created.returncode == 0, created.stderr
    assert PASSPHRASE not in created.stdout + created.stderr
    layout = Layout(directory)
    for name in ("root-ca", "intermediate-ca"):
        pem = layout.key(name).read_bytes()
        assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        serialization.load_pem_private_key(pem, PASSPHRASE.encode())
        assert layout.key(name).parent == layout.ca_dir
    assert stat.S_IMODE(layout.ca_dir.stat().st_mode) == 0o700
    # What services mount: broker/ (mosquitto), ca-chain.crt + clients/<id>.* (clients).
    # Each key there is its own certificate's key; no CA key or certificate is among them.
    mounted = [*layout.broker_dir.iterdir(), layout.chain, *(directory / "clients").iterdir()]
    assert {p.name for p in layout.broker_dir.iterdir()} == {
        "mosquitto.conf", "acl", "ca-chain.crt", "crl.pem", "server.crt", "server.key"
    }  # fmt: skip
    ca_keys = [
        serialization.load_pem_private_key(layout.key(name).read_bytes(), PASSPHRASE.encode())
        for name in ("root-ca", "intermediate-ca")
    ]
    ca_public = {k.public_key().public_bytes(*_SPKI) for k in ca_keys}
    for path in mounted:
        if path.suffix == ".key":
            key = serialization.load_pem_private_key(path.read_bytes(), None)
            leaf = x509.load_pem_x509_certificates(path.with_suffix(".crt").read_bytes())[0]
            assert key.public_key().public_bytes(*_SPKI) == leaf.public_key().public_bytes(*_SPKI)
            assert key.public_key().public_bytes(*_SPKI) not in ca_public
    assert not list(directory.glob("*.key"))
    # the file names compose and the k8s mqtt component mount
    compose = (REPO / "server" / "compose.yaml").read_text()
    assert "${TRASHMON_PKI_DIR}/ca\n" not in compose
    assert "/ca/" not in compose


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_role_name_and_role_change_are_refused(tmp_path: Path) -> None:
    create_pki(_request(tmp_path, controllers=("ops",)))
    with pytest.raises(ConfigError, match="is a role name"):
        create_pki(_request(tmp_path, cameras=("monitor",)))
    with pytest.raises(ConfigError, match="ops is already a controller identity"):
        create_pki(_request(tmp_path, cameras=("ops",)))
    with pytest.raises(ConfigError, match="cam1 is already a camera identity"):
        create_pki(_request(tmp_path, cameras=(), monitors=("cam1",)))
    assert read_clients(Layout(tmp_path)) == {
        "cam1": "camera",
        "monitor": "monitor",
        "ops": "controller",
    }


def test_revoke_puts_the_serial_on_a_crl_signed_by_the_issuing_ca(tmp_path: Path) -> None:
    layout = create_pki(_request(tmp_path, cameras=("cam1", "cam2")))
    serial = x509.load_pem_x509_certificates(layout.client_cert("cam1").read_bytes())[
        0
    ].serial_number
    kept = tmp_path / "cam1-copy.crt"
    kept.write_bytes(layout.client_cert("cam1").read_bytes())
    revoke(tmp_path, "cam1", NO_PASSPHRASE)
    crl = x509.load_pem_x509_crl(layout.crl.read_bytes())
    intermediate = x509.load_pem_x509_certificates(layout.cert("intermediate-ca").read_bytes())[0]
    assert crl.issuer == intermediate.subject
    assert crl.is_signature_valid(intermediate.public_key())  # type: ignore[arg-type]
    assert crl.next_update_utc == intermediate.not_valid_after_utc  # never lapses silently
    assert set(revoked_serials(layout)) == {serial}
    assert not layout.client_key("cam1").exists()
    assert not layout.client_cert("cam1").exists()
    assert "user cam1" not in layout.acl.read_text()
    # OpenSSL, as mosquitto uses it, refuses the revoked certificate and accepts cam2's
    for leaf, ok in ((kept, False), (layout.client_cert("cam2"), True)):
        verify = subprocess.run(
            ["openssl", "verify", "-crl_check", "-CAfile", str(layout.chain),
             "-CRLfile", str(layout.crl), str(leaf)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert (verify.returncode == 0) is ok, verify.stdout + verify.stderr
    lines, expired = show(tmp_path, dt.datetime.now(dt.UTC))
    assert not expired
    (revoked_line,) = [line for line in lines if " cam1 " in line]
    assert revoked_line.startswith("ca/revoked/cam1-")
    assert revoked_line.endswith("revoked")
    # a second revocation keeps the first on the list
    revoke(tmp_path, "cam2", NO_PASSPHRASE)
    assert len(revoked_serials(layout)) == 2
    # the id can be issued again: a new serial, not on the list
    create_pki(_request(tmp_path, cameras=("cam1",)))
    verify = subprocess.run(
        ["openssl", "verify", "-crl_check", "-CAfile", str(layout.chain),
         "-CRLfile", str(layout.crl), str(layout.client_cert("cam1"))],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "user cam1" in layout.acl.read_text()


def test_cli_revoke_and_unknown_identity(tmp_path: Path) -> None:
    directory = str(tmp_path / "p")
    assert _pki("create", directory, "--camera", "cam1", "--ip", "::1").returncode == 0
    missing = _pki("revoke", directory, "cam9")
    assert missing.returncode == 2
    assert "no certificate" in missing.stderr
    assert len(missing.stderr.splitlines()) == 1
    locked = _pki("revoke", directory, "cam1", passphrase=None)
    assert locked.returncode == 2
    assert "the CA keys are encrypted" in locked.stderr
    done = _pki("revoke", directory, "cam1")
    assert done.returncode == 0, done.stderr
    assert "restart mosquitto" in done.stdout
    shown = _pki("show", directory)
    assert shown.returncode == 0
    assert any(" cam1 " in line and line.endswith("revoked") for line in shown.stdout.splitlines())


def test_a_flat_pki_from_an_older_version_is_moved_into_place(tmp_path: Path) -> None:
    layout = create_pki(_request(tmp_path, cameras=("cam1",)))
    for path in (layout.ca_dir / "root-ca.crt", layout.ca_dir / "root-ca.key",
                 layout.ca_dir / "intermediate-ca.crt", layout.ca_dir / "intermediate-ca.key",
                 layout.broker_dir / "server.crt", layout.broker_dir / "server.key"):  # fmt: skip
        path.rename(tmp_path / path.name)
    (tmp_path / "mosquitto.conf").write_text("old")
    shown, _ = show(tmp_path, dt.datetime.now(dt.UTC))  # show reads the old layout too
    assert any(line.startswith("root-ca.crt") for line in shown)
    before = (tmp_path / "intermediate-ca.key").read_bytes()
    notes: list[str] = []
    create_pki(_request(tmp_path, cameras=("cam2",)), notes)
    assert layout.key("intermediate-ca").read_bytes() == before
    assert not (tmp_path / "intermediate-ca.key").exists()
    assert not (tmp_path / "mosquitto.conf").exists()
    assert any("moved the CA files" in note for note in notes)
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(layout.chain), str(layout.client_cert("cam2"))],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout


def test_a_pki_is_ignored_by_git_and_the_image_build_context() -> None:
    for path in ("pki/ca/root-ca.key", "pki/clients/cam1.key", "server/pki/broker/server.key"):
        ignored = subprocess.run(
            ["git", "-C", str(REPO), "check-ignore", "--no-index", "-q", path], check=False
        )
        assert ignored.returncode == 0, path
    patterns = (REPO / "server" / "Containerfile.dockerignore").read_text().splitlines()
    assert {"pki", "**/pki"} <= set(patterns)


def test_the_seed_topics_go_to_the_one_seed_camera_and_survive_rewrites(tmp_path: Path) -> None:
    layout = create_pki(
        _request(tmp_path, cameras=("cam1", "cam2"), controllers=("ops",), seed_camera="cam1")
    )

    def blocks() -> dict[str, list[str]]:
        text = layout.acl.read_text()
        return {b.split("\n", 1)[0]: b.splitlines()[1:] for b in text.split("\n\n") if "user" in b}

    seed_lines = [
        "topic read camera/control/settings",
        "topic read camera/control/action",
        "topic write camera/status",
    ]
    assert blocks()["user cam1"][-3:] == seed_lines
    assert not any("camera/" in line and "trashcam" not in line for line in blocks()["user cam2"])
    assert blocks()["user ops"][-3:] == [
        "topic write camera/control/settings",
        "topic write camera/control/action",
        "topic read camera/status",
    ]
    # a later run without --seed-camera (adding a camera) and a revocation keep it
    create_pki(_request(tmp_path, cameras=("cam3",)))
    assert blocks()["user cam1"][-3:] == seed_lines
    revoke(tmp_path, "cam2", CaPassphrase(encrypt=False))
    assert blocks()["user cam1"][-3:] == seed_lines


def test_the_docs_table_is_the_declared_table() -> None:
    assert generated_table("docs/mqtt.md", "pki") == SETTINGS.markdown(meaning=True), (
        "docs/mqtt.md is out of date: paste `python -P -m trashmonitor.pki`"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--camera", "", "--ip", "::1"], "--camera: '' is not a valid id"),
        (
            ["--camera", "c", "--ip", "::1", "--ip", "nope"],
            "--ip: expected an IP address, got 'nope'",
        ),
        (["--camera", "c", "--ip", "::1", "--port", "0"], "--port: expected a whole number"),
    ],
)
def test_a_repeated_or_empty_flag_is_checked_value_by_value(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    result = _pki("create", str(tmp_path / "p"), *args)
    assert result.returncode == 2
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "p").exists()


def test_the_passphrase_never_reaches_argv_or_output(tmp_path: Path) -> None:
    # No option takes it: it is environment only, and the help says where it comes from.
    assert not any("passphrase" in s.flag for s in SETTINGS.settings)
    created = _pki("create", str(tmp_path / "p"), "--camera", "c", "--ip", "::1")
    assert created.returncode == 0, created.stderr
    assert PASSPHRASE not in created.stdout + created.stderr
