"""``trashmon pki``: the mutual-TLS PKI and mosquitto config for the MQTT broker.

One directory holds everything (see docs/mqtt.md)::

    root-ca.crt  root-ca.key                 root CA (keep the key offline)
    intermediate-ca.crt  intermediate-ca.key signs the broker and every client
    ca-chain.crt                             intermediate + root: MQTT_CA and mosquitto cafile
    server.crt  server.key                   broker certificate (chain) with SANs
    clients/<id>.crt  clients/<id>.key       one per camera and per monitor (chain)
    mosquitto.conf  acl                      an mTLS listener with per-identity topic rules

The client certificate's CN is the MQTT identity (mosquitto ``use_identity_as_username``)
and its OU the role (``camera`` or ``monitor``), so the ACL can be regenerated from the
certificates alone. Re-running ``create`` adds what is missing and never replaces an
existing key or certificate unless asked: ``--force`` re-issues the certificates named on
the command line, ``--new-ca`` replaces the CAs and re-issues everything.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import ipaddress
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trashmonitor.errors import EXIT_OK, EXIT_UNHEALTHY, ConfigError
from trashmonitor.mqtt import TOPIC_ROOT, validate_identity
from trashmonitor.settings import parse_ip, parse_positive_int, parse_setting

HELP = "create the MQTT mTLS PKI and mosquitto config"

ROLE_CAMERA = "camera"
ROLE_MONITOR = "monitor"

ROOT_NAME = "root-ca"
INTERMEDIATE_NAME = "intermediate-ca"
SERVER_NAME = "server"
CHAIN_FILE = "ca-chain.crt"
CLIENTS_DIR = "clients"
MOSQUITTO_CONF = "mosquitto.conf"
ACL_FILE = "acl"

ROOT_DAYS = 3650
INTERMEDIATE_DAYS = 1825
DEFAULT_MONITOR = "monitor"
LEAF_DAYS = 825  # the longest leaf lifetime clients such as Apple's still accept


@dataclass(frozen=True)
class Issuer:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class CertificateInfo:
    """What ``pki show`` and the monitor's expiry metric need from one certificate file."""

    path: Path
    common_name: str
    role: str
    not_after: dt.datetime

    @property
    def not_after_timestamp(self) -> float:
        return self.not_after.timestamp()


# --- building certificates -------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str, role: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "trashmonitor")]
    if role:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def _builder(
    subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: Issuer | None, days: int
) -> x509.CertificateBuilder:
    now = _now()
    issuer_name = subject if issuer is None else issuer.certificate.subject
    signer_public = key.public_key() if issuer is None else issuer.key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        # Backdated a little so a broker whose clock lags by minutes accepts it.
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer_public), critical=False
        )
    )


def _sign(builder: x509.CertificateBuilder, signer: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return builder.sign(signer, hashes.SHA256())


def make_ca(common_name: str, issuer: Issuer | None, path_length: int, days: int) -> Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(_name(common_name), key, issuer, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    return Issuer(_sign(builder, key if issuer is None else issuer.key), key)


def _leaf_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=True,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def make_leaf(
    issuer: Issuer,
    common_name: str,
    *,
    role: str | None,
    usage: x509.ObjectIdentifier,
    sans: Sequence[x509.GeneralName] = (),
    days: int = LEAF_DAYS,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        _builder(_name(common_name, role), key, issuer, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
    return _sign(builder, issuer.key), key


# --- files -----------------------------------------------------------------------------


def _pem(*certificates: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def _key_pem(key: ec.EllipticCurvePrivateKey, password: bytes | None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write atomically with ``mode`` from the start: a key is never briefly world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.unlink(missing_ok=True)
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)  # umask may have narrowed or widened the create mode
    finally:
        os.close(fd)
    os.replace(temporary, path)


def _read_certificates(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as error:
        raise ConfigError(str(path), f"cannot read certificate ({error.strerror})") from None
    except ValueError:
        raise ConfigError(str(path), "not a PEM certificate") from None


def _read_key(path: Path, password: bytes | None) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password)
    except OSError as error:
        raise ConfigError(str(path), f"cannot read key ({error.strerror})") from None
    except TypeError:
        # Raised when a password is missing for an encrypted key or given for a plain one.
        hint = "it is encrypted: pass --ca-password-env" if password is None else "not encrypted"
        raise ConfigError(str(path), f"cannot load key ({hint})") from None
    except ValueError:
        raise ConfigError(str(path), "cannot load key (wrong password or not a PEM key)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(str(path), "expected an EC private key")
    return key


@dataclass
class Layout:
    """File names inside the PKI directory (one place, shared by create/show/tests)."""

    root: Path

    def cert(self, name: str) -> Path:
        return self.root / f"{name}.crt"

    def key(self, name: str) -> Path:
        return self.root / f"{name}.key"

    def client_cert(self, identity: str) -> Path:
        return self.root / CLIENTS_DIR / f"{identity}.crt"

    def client_key(self, identity: str) -> Path:
        return self.root / CLIENTS_DIR / f"{identity}.key"

    @property
    def chain(self) -> Path:
        return self.root / CHAIN_FILE

    @property
    def mosquitto_conf(self) -> Path:
        return self.root / MOSQUITTO_CONF

    @property
    def acl(self) -> Path:
        return self.root / ACL_FILE


@dataclass(frozen=True)
class PkiRequest:
    directory: Path
    cameras: tuple[str, ...]
    monitors: tuple[str, ...]
    dns_names: tuple[str, ...]
    ips: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]
    listen_port: int = 8883
    listen_address: str | None = None
    broker_user: str | None = None
    ca_password: bytes | None = None
    force: bool = False
    new_ca: bool = False


def _exists(layout: Layout, name: str) -> bool:
    return layout.cert(name).exists() or layout.key(name).exists()


def _load_or_make_ca(
    layout: Layout,
    name: str,
    parent: Issuer | None,
    *,
    replace: bool,
    password: bytes | None,
    notes: list[str],
) -> tuple[Issuer, bool]:
    """The CA stored under ``name``, made (and signed by ``parent``) if missing or replaced."""
    if not replace and _exists(layout, name):
        notes.append(f"kept {layout.cert(name)}")
        stored = Issuer(
            _read_certificates(layout.cert(name))[0], _read_key(layout.key(name), password)
        )
        return stored, False
    if parent is None:
        issuer = make_ca("trashmonitor root CA", None, path_length=1, days=ROOT_DAYS)
    else:
        issuer = make_ca(
            "trashmonitor intermediate CA", parent, path_length=0, days=INTERMEDIATE_DAYS
        )
    _write(layout.key(name), _key_pem(issuer.key, password), 0o600)
    _write(layout.cert(name), _pem(issuer.certificate), 0o644)
    notes.append(f"created {layout.cert(name)}")
    return issuer, True


def _server_names(request: PkiRequest, layout: Layout) -> list[x509.GeneralName]:
    """SANs from the flags, else those of the existing broker certificate (CA renewal)."""
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in request.dns_names]
    sans += [x509.IPAddress(ip) for ip in request.ips]
    if not sans and layout.cert(SERVER_NAME).exists():
        existing = _read_certificates(layout.cert(SERVER_NAME))[0]
        with contextlib.suppress(x509.ExtensionNotFound):
            sans = list(
                existing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            )
    return sans


def create_pki(request: PkiRequest, report: list[str] | None = None) -> Layout:
    """Create what is missing and rewrite the broker config.

    ``force`` re-issues the leaf certificates named in the request (the broker's when
    names are given); ``new_ca`` replaces both CAs and re-issues every certificate.
    ``report`` collects one human line per file created or kept.
    """
    notes = report if report is not None else []
    layout = Layout(request.directory)
    renew_server = request.new_ca or (request.force and bool(request.dns_names or request.ips))
    server_sans = _server_names(request, layout)
    if (renew_server or not _exists(layout, SERVER_NAME)) and not server_sans:
        # Checked before anything is written: a half-created PKI is confusing.
        raise ConfigError("--dns/--ip", "the broker certificate needs at least one name")
    layout.root.mkdir(parents=True, exist_ok=True)
    password = request.ca_password

    root, new_root = _load_or_make_ca(
        layout, ROOT_NAME, None, replace=request.new_ca, password=password, notes=notes
    )
    intermediate, new_intermediate = _load_or_make_ca(
        layout, INTERMEDIATE_NAME, root, replace=new_root, password=password, notes=notes
    )
    _write(layout.chain, _pem(intermediate.certificate, root.certificate), 0o644)

    if new_intermediate or renew_server or not _exists(layout, SERVER_NAME):
        common_name = str(server_sans[0].value)
        cert, key = make_leaf(
            intermediate, common_name, role=None, usage=ExtendedKeyUsageOID.SERVER_AUTH,
            sans=server_sans,
        )  # fmt: skip
        _write(layout.key(SERVER_NAME), _key_pem(key, None), 0o600)
        _write(layout.cert(SERVER_NAME), _pem(cert, intermediate.certificate), 0o644)
        names = ", ".join(str(san.value) for san in server_sans)
        notes.append(f"created {layout.cert(SERVER_NAME)} for {names}")
    else:
        notes.append(f"kept {layout.cert(SERVER_NAME)}")

    existing = read_clients(layout)
    named = {identity: ROLE_CAMERA for identity in request.cameras}
    named.update({identity: ROLE_MONITOR for identity in request.monitors})
    if ROLE_MONITOR not in {*existing.values(), *named.values()}:
        named[DEFAULT_MONITOR] = ROLE_MONITOR
    # A new CA invalidates every client: re-issue them all, keeping their roles.
    wanted = {**existing, **named} if new_intermediate else named
    for identity, role in wanted.items():
        cert_path, key_path = layout.client_cert(identity), layout.client_key(identity)
        renew = new_intermediate or request.force
        if not renew and (cert_path.exists() or key_path.exists()):
            notes.append(f"kept {cert_path}")
            continue
        cert, key = make_leaf(
            intermediate, identity, role=role, usage=ExtendedKeyUsageOID.CLIENT_AUTH
        )
        _write(key_path, _key_pem(key, None), 0o600)
        _write(cert_path, _pem(cert, intermediate.certificate), 0o644)
        notes.append(f"created {cert_path} ({role})")

    clients = read_clients(layout)
    _write(layout.acl, render_acl(clients).encode(), 0o644)
    conf = render_mosquitto_conf(
        layout, request.listen_port, request.listen_address, request.broker_user
    )
    _write(layout.mosquitto_conf, conf.encode(), 0o644)
    notes.append(f"wrote {layout.mosquitto_conf} and {layout.acl}")
    return layout


def read_certificate_info(path: Path) -> CertificateInfo:
    leaf = _read_certificates(path)[0]
    return CertificateInfo(
        path=path,
        common_name=_attribute(leaf.subject, NameOID.COMMON_NAME),
        role=_attribute(leaf.subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
        not_after=leaf.not_valid_after_utc,
    )


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def read_clients(layout: Layout) -> dict[str, str]:
    """identity -> role, from the client certificates present (the ACL's source of truth)."""
    clients: dict[str, str] = {}
    for path in sorted((layout.root / CLIENTS_DIR).glob("*.crt")):
        info = read_certificate_info(path)
        clients[info.common_name] = info.role
    return clients


def certificate_expiry(paths: Iterable[Path]) -> dict[str, float]:
    """file name -> the earliest notAfter (epoch seconds) of the certificates in it.

    For ``trashmon_certificate_expiry_timestamp_seconds{certificate=...}``: a chain file
    (ca-chain.crt, a client cert with its intermediate) is only as valid as its
    soonest-expiring member. The label is the file name (bounded, chosen by the
    operator), never a subject or serial.
    """
    return {
        path.name: min(cert.not_valid_after_utc for cert in _read_certificates(path)).timestamp()
        for path in paths
    }


# --- broker configuration --------------------------------------------------------------


def render_acl(clients: Mapping[str, str]) -> str:
    """Per-identity rules: a camera writes only its own status/state/events and reads only
    its own control topics; a monitor reads everything and may publish control."""
    lines = [
        "# Generated by `trashmon pki create`; regenerated from clients/*.crt on every run.",
        "# The username is the client certificate's CN (use_identity_as_username).",
        "",
    ]
    for identity, role in sorted(clients.items()):
        lines.append(f"user {identity}")
        if role == ROLE_MONITOR:
            lines += [
                f"topic read {TOPIC_ROOT}/#",
                f"topic write {TOPIC_ROOT}/+/control/#",
            ]
        else:
            base = f"{TOPIC_ROOT}/{identity}"
            lines += [
                f"topic write {base}/status",
                f"topic write {base}/state",
                f"topic write {base}/events",
                f"topic read {base}/control/#",
            ]
        lines.append("")
    return "\n".join(lines)


def render_mosquitto_conf(
    layout: Layout, port: int, address: str | None, user: str | None = None
) -> str:
    root = layout.root.resolve()
    listener = f"listener {port}" + (f" {address}" if address else "")
    # Started as root, mosquitto switches to `user` (default "mosquitto") before it reads
    # the key, so server.key (0600) must be owned by that user.
    user_line = [f"user {user}"] if user else []
    return "\n".join(
        [
            "# Generated by `trashmon pki create`: one mutual-TLS listener, no anonymous access.",
            *user_line,
            "per_listener_settings false",
            # Control messages are tiny: without this, Nagle + delayed ACKs add ~40 ms.
            "set_tcp_nodelay true",
            "allow_anonymous false",
            f"acl_file {root / ACL_FILE}",
            "",
            listener,
            f"cafile {root / CHAIN_FILE}",
            f"certfile {root / (SERVER_NAME + '.crt')}",
            f"keyfile {root / (SERVER_NAME + '.key')}",
            "require_certificate true",
            "use_identity_as_username true",
            "tls_version tlsv1.2",
            "",
        ]
    )


# --- CLI -------------------------------------------------------------------------------


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="pki_command", metavar="ACTION", required=True)
    create = sub.add_parser("create", help="create or extend the PKI and write mosquitto.conf")
    create.add_argument("directory", type=Path, help="where the PKI lives (created if missing)")
    create.add_argument(
        "--camera", action="append", default=[], metavar="ID", help="camera id (repeatable)"
    )
    create.add_argument(
        "--monitor",
        action="append",
        default=None,
        metavar="ID",
        help="monitor/controller identity (repeatable; 'monitor' is created if none exists)",
    )
    create.add_argument("--dns", action="append", default=[], help="broker DNS name (SAN)")
    create.add_argument("--ip", action="append", default=[], help="broker IP address (SAN)")
    create.add_argument("--port", default="8883", help="mosquitto listener port (default 8883)")
    create.add_argument("--bind", default=None, help="mosquitto listener address (default all)")
    create.add_argument(
        "--broker-user",
        help="the user mosquitto runs as (it must be able to read server.key; "
        "default: mosquitto's own default, 'mosquitto')",
    )
    create.add_argument(
        "--ca-password-env",
        metavar="VAR",
        help="encrypt the CA keys with the password in this environment variable",
    )
    create.add_argument(
        "--force",
        action="store_true",
        help="re-issue the named certificates (--camera/--monitor; the broker's with --dns/--ip)",
    )
    create.add_argument(
        "--new-ca",
        action="store_true",
        help="replace the root and intermediate CA and re-issue every certificate",
    )
    show = sub.add_parser("show", help="list certificates with their expiry")
    show.add_argument("directory", type=Path)


def _password(variable: str | None) -> bytes | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise ConfigError("--ca-password-env", f"environment variable {variable} is empty")
    return value.encode()


def _request(args: argparse.Namespace) -> PkiRequest:
    cameras = tuple(validate_identity("--camera", name) for name in args.camera)
    monitors = tuple(validate_identity("--monitor", name) for name in (args.monitor or []))
    clash = set(cameras) & set(monitors)
    if clash:
        raise ConfigError("--camera/--monitor", f"{', '.join(sorted(clash))} named as both")
    return PkiRequest(
        directory=args.directory,
        cameras=cameras,
        monitors=monitors,
        dns_names=tuple(args.dns),
        ips=tuple(parse_setting("--ip", ip, parse_ip) for ip in args.ip),
        listen_port=parse_setting("--port", args.port, parse_positive_int),
        listen_address=args.bind,
        broker_user=args.broker_user,
        ca_password=_password(args.ca_password_env),
        force=args.force,
        new_ca=args.new_ca,
    )


def all_certificates(layout: Layout) -> list[Path]:
    fixed = [layout.cert(name) for name in (ROOT_NAME, INTERMEDIATE_NAME, SERVER_NAME)]
    clients = sorted((layout.root / CLIENTS_DIR).glob("*.crt"))
    return [path for path in fixed + clients if path.exists()]


def show(directory: Path, now: dt.datetime) -> tuple[list[str], bool]:
    """Lines of the expiry table and whether any certificate has expired."""
    paths = all_certificates(Layout(directory))
    if not paths:
        raise ConfigError(str(directory), "no certificates found (run `trashmon pki create`)")
    lines = [f"{'certificate':<32} {'CN':<28} {'role':<8} {'not after (UTC)':<20} days left"]
    expired = False
    for path in paths:
        info = read_certificate_info(path)
        days = (info.not_after - now).total_seconds() / 86400
        expired |= days <= 0
        relative = path.relative_to(directory)
        lines.append(
            f"{relative!s:<32} {info.common_name:<28} {info.role or '-':<8} "
            f"{info.not_after:%Y-%m-%d %H:%M}     {days:8.1f}"
        )
    return lines, expired


def run(args: argparse.Namespace) -> int:
    if args.pki_command == "show":
        lines, expired = show(args.directory, _now())
        print("\n".join(lines))
        return EXIT_UNHEALTHY if expired else EXIT_OK
    notes: list[str] = []
    layout = create_pki(_request(args), notes)
    print("\n".join(notes))
    print(f"start the broker: mosquitto -c {layout.mosquitto_conf.resolve()}", file=sys.stderr)
    return EXIT_OK
