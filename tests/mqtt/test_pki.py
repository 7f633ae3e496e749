"""`trashmon pki`: the certificate chain, key protection and the rendered broker config."""

from __future__ import annotations

import datetime as dt
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from support.processes import run_trashmon

from trashmonitor.errors import ConfigError
from trashmonitor.pki import (
    Layout,
    PkiRequest,
    certificate_expiry,
    create_pki,
    read_clients,
    show,
)
from trashmonitor.settings import parse_ip


def _request(directory: Path, **overrides: object) -> PkiRequest:
    base: dict[str, object] = {
        "directory": directory,
        "cameras": ("cam1",),
        "monitors": ("monitor",),
        "dns_names": ("broker.example",),
        "ips": (parse_ip("127.0.0.1"),),
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
    assert {stat.S_IMODE(k.stat().st_mode) for k in keys} == {0o600}
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


def test_encrypted_ca_keys_need_the_password_to_extend(tmp_path: Path) -> None:
    create_pki(_request(tmp_path, ca_password=b"s3cret-pw"))
    assert b"ENCRYPTED" in Layout(tmp_path).key("intermediate-ca").read_bytes()
    with pytest.raises(ConfigError, match="encrypted"):
        create_pki(_request(tmp_path, cameras=("cam2",)))
    with pytest.raises(ConfigError, match="wrong password"):
        create_pki(_request(tmp_path, cameras=("cam2",), ca_password=b"nope"))
    create_pki(_request(tmp_path, cameras=("cam2",), ca_password=b"s3cret-pw"))
    assert Layout(tmp_path).client_cert("cam2").exists()


def test_acl_confines_each_camera_and_lets_monitor_control(tmp_path: Path) -> None:
    layout = create_pki(_request(tmp_path, cameras=("cam1", "cam2")))
    blocks = {b.split("\n", 1)[0]: b for b in layout.acl.read_text().split("\n\n") if "user" in b}
    assert blocks["user cam1"].splitlines()[1:] == [
        "topic write trashcam/cam1/status",
        "topic write trashcam/cam1/state",
        "topic write trashcam/cam1/events",
        "topic read trashcam/cam1/control/#",
    ]
    assert blocks["user monitor"].splitlines()[1:] == [
        "topic read trashcam/#",
        "topic write trashcam/+/control/#",
    ]
    conf = layout.mosquitto_conf.read_text().splitlines()
    for line in (
        "require_certificate true",
        "use_identity_as_username true",
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


def test_cli_create_and_show(tmp_path: Path) -> None:
    created = run_trashmon(
        "pki",
        "create",
        str(tmp_path / "p"),
        "--camera",
        "cam1",
        "--ip",
        "127.0.0.1",
        "--port",
        "18883",
    )
    assert created.returncode == 0, created.stderr
    assert "created" in created.stdout
    assert "listener 18883" in (tmp_path / "p" / "mosquitto.conf").read_text()
    shown = run_trashmon("pki", "show", str(tmp_path / "p"))
    assert shown.returncode == 0
    assert "cam1" in shown.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--camera", "cam/1", "--ip", "127.0.0.1"], "--camera: 'cam/1' is not a valid id"),
        (["--camera", "c", "--ip", "not-an-ip"], "--ip: expected an IP address"),
        (["--camera", "c"], "needs at least one name"),
        (["--camera", "m", "--monitor", "m", "--ip", "::1"], "named as both"),
        (["--ip", "::1", "--ca-password-env", "NO_SUCH_VAR_X"], "NO_SUCH_VAR_X is empty"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, args: list[str], expected: str) -> None:
    result = run_trashmon("pki", "create", str(tmp_path / "p"), *args)
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_cli_show_on_empty_directory(tmp_path: Path) -> None:
    result = run_trashmon("pki", "show", str(tmp_path))
    assert result.returncode == 2
    assert "no certificates found" in result.stderr
