"""``trashmon pki``: the mutual-TLS PKI and mosquitto config for the MQTT broker.

The directory is split by who may read what (see docs/mqtt.md)::

    ca/        0700  root-ca.{crt,key} intermediate-ca.{crt,key} (keys encrypted),
                     revoked/<id>-<serial>.crt: never mounted into a service
    broker/    0750  everything mosquitto reads and nothing else: mosquitto.conf acl
                     ca-chain.crt crl.pem server.crt server.key
    ca-chain.crt     intermediate + root: the clients' MQTT_CA
    clients/<id>.crt clients/<id>.key   one per camera, monitor and controller (chain)

The client certificate's CN is the MQTT identity (mosquitto ``use_identity_as_username``,
and ``use_username_as_clientid`` so nobody can take another identity's client id) and its
OU the role: ``camera`` (its own topics), ``monitor`` (a read-only observer) or
``controller`` (may send control requests). The ACL is regenerated from the certificates
alone. Re-running ``create`` adds what is missing and never replaces an existing key or
certificate unless asked: ``--force`` re-issues the certificates named on the command
line, ``--new-ca`` replaces the CAs and re-issues everything. ``revoke`` puts a client
certificate on the CRL the broker checks.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import getpass
import ipaddress
import os
import pwd
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from trashmonitor.errors import EXIT_OK, EXIT_UNHEALTHY, ConfigError
from trashmonitor.mqtt import MAX_PACKET_BYTES, TOPIC_ROOT, validate_identity
from trashmonitor.settings import (
    ReadSettings,
    Setting,
    SettingsTable,
    option,
    parse_ip,
    parse_positive_int,
    parse_setting,
    switch,
)

ROLE_CAMERA = "camera"
ROLE_MONITOR = "monitor"
ROLE_CONTROLLER = "controller"
ROLES = (ROLE_CAMERA, ROLE_MONITOR, ROLE_CONTROLLER)
# Names a camera must not take: a `--camera monitor` would read like (and, before roles
# were checked, silently become) a privileged identity.
RESERVED_CAMERA_IDS = frozenset({*ROLES, "observer", "broker", "server", "admin"})

ROOT_NAME = "root-ca"
INTERMEDIATE_NAME = "intermediate-ca"
SERVER_NAME = "server"
CHAIN_FILE = "ca-chain.crt"
CRL_FILE = "crl.pem"
CA_DIR = "ca"
BROKER_DIR = "broker"
CLIENTS_DIR = "clients"
REVOKED_DIR = "revoked"
MOSQUITTO_CONF = "mosquitto.conf"
ACL_FILE = "acl"
SEED_CAMERA_FILE = "seed-camera"
"""Names the one camera that may serve the seed's un-namespaced ``camera/…`` topics."""
SEED_TOPICS = ("camera/control/settings", "camera/control/action")
SEED_STATUS = "camera/status"
HA_PREFIX = "homeassistant"
DEFAULT_BROKER_ACCOUNT = "mosquitto"  # who mosquitto switches to when started as root

PASSPHRASE_ENV = "TRASHMON_PKI_PASSPHRASE"  # noqa: S105 - the variable's name
MIN_PASSPHRASE_CHARS = 8

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
    serial: int = 0


# --- building certificates -------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str, role: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "trashmonitor")]
    if role:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


def certificate_builder(
    subject: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: Issuer | None, days: int
) -> x509.CertificateBuilder:
    """What every certificate here starts from: names, key, a random serial, validity
    (``days``, backdated 5 minutes) and key identifiers; self-signed when ``issuer`` is
    None. The caller adds its extensions and signs."""
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
        certificate_builder(_name(common_name), key, issuer, days)
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
        certificate_builder(_name(common_name, role), key, issuer, days)
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


def _directory(path: Path, mode: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)


def _read_certificates(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as error:
        raise ConfigError(str(path), f"cannot read certificate ({error.strerror})") from error
    except ValueError as error:
        raise ConfigError(str(path), "not a PEM certificate") from error


def _is_encrypted(pem: bytes) -> bool:
    return b"ENCRYPTED" in pem.split(b"\n", 1)[0]


@dataclass
class CaPassphrase:
    """Where the CA keys' passphrase comes from; asked for only when a CA key is used.

    New CA keys are encrypted unless ``encrypt`` is False (``--no-ca-password``). The
    passphrase is ``value`` (from ``TRASHMON_PKI_PASSPHRASE``) or, on a terminal, what
    ``prompt`` returns; it is never printed. Keys written unencrypted (an older PKI, or
    the opt-out) are read without one.
    """

    value: bytes | None = None
    prompt: Callable[[str], str] | None = None
    encrypt: bool = True
    _asked: bytes | None = field(default=None, repr=False)

    def for_new_key(self) -> bytes | None:
        if not self.encrypt:
            return None
        if self.value is None and self._asked is None and self.prompt is not None:
            first = self.prompt("passphrase for the new CA keys: ")
            if first != self.prompt("the same passphrase again: "):
                raise ConfigError(PASSPHRASE_ENV, "the two passphrases differ")
            self._asked = _checked_passphrase(PASSPHRASE_ENV, first)
        return self._known("needed to encrypt the new CA keys")

    def for_existing_key(self) -> bytes:
        if self.value is None and self._asked is None and self.prompt is not None:
            self._asked = self.prompt("CA key passphrase: ").encode()
        known = self._known("the CA keys are encrypted")
        if known is None:
            raise ConfigError(
                PASSPHRASE_ENV,
                "the CA keys are encrypted: set it (--no-ca-password cannot read them)",
            )
        return known

    def _known(self, why: str) -> bytes | None:
        if self.value is not None:
            return self.value
        if self._asked is not None:
            return self._asked
        if not self.encrypt:
            return None
        raise ConfigError(
            PASSPHRASE_ENV,
            f"{why}: set it, run on a terminal to be asked, or pass --no-ca-password",
        )


def _checked_passphrase(setting: str, text: str) -> bytes:
    if len(text) < MIN_PASSPHRASE_CHARS:
        raise ConfigError(
            setting, f"use a passphrase of at least {MIN_PASSPHRASE_CHARS} characters"
        )
    return text.encode()


def _read_key(path: Path, passphrase: CaPassphrase | None) -> ec.EllipticCurvePrivateKey:
    try:
        pem = path.read_bytes()
    except OSError as error:
        raise ConfigError(str(path), f"cannot read key ({error.strerror})") from error
    password = None
    if _is_encrypted(pem):
        if passphrase is None:
            raise ConfigError(str(path), "cannot load key (it is encrypted)")
        password = passphrase.for_existing_key()
    try:
        key = serialization.load_pem_private_key(pem, password)
    except (TypeError, ValueError):
        key = None
    # The passphrase and the key's bytes are no locals of this frame when an error is
    # raised below, and the loader's error (about the passphrase) is no __context__.
    del pem, password
    if key is None:
        raise ConfigError(str(path), "cannot load key (wrong passphrase or not a PEM key)")
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ConfigError(str(path), "expected an EC private key")
    return key


class _Under:
    """A fixed path under the PKI directory, read as an attribute of a :class:`Layout`."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __get__(self, layout: Layout, owner: object = None) -> Path:
        return layout.root.joinpath(*self.parts)


@dataclass
class Layout:
    """File names inside the PKI directory (one place, shared by create/show/tests)."""

    root: Path

    ca_dir = _Under(CA_DIR)
    broker_dir = _Under(BROKER_DIR)
    revoked_dir = _Under(CA_DIR, REVOKED_DIR)
    chain = _Under(CHAIN_FILE)
    """The CA chain clients verify the broker with (``MQTT_CA``)."""
    broker_chain = _Under(BROKER_DIR, CHAIN_FILE)
    crl = _Under(BROKER_DIR, CRL_FILE)
    mosquitto_conf = _Under(BROKER_DIR, MOSQUITTO_CONF)
    acl = _Under(BROKER_DIR, ACL_FILE)
    seed_camera = _Under(BROKER_DIR, SEED_CAMERA_FILE)

    def cert(self, name: str) -> Path:
        """A CA's certificate (``root-ca``, ``intermediate-ca``) or the broker's (``server``)."""
        return (self.broker_dir if name == SERVER_NAME else self.ca_dir) / f"{name}.crt"

    def key(self, name: str) -> Path:
        return (self.broker_dir if name == SERVER_NAME else self.ca_dir) / f"{name}.key"

    def client_cert(self, identity: str) -> Path:
        return self.root / CLIENTS_DIR / f"{identity}.crt"

    def client_key(self, identity: str) -> Path:
        return self.root / CLIENTS_DIR / f"{identity}.key"

    def broker_files(self) -> list[Path]:
        return [
            self.mosquitto_conf, self.acl, self.broker_chain, self.crl,
            self.cert(SERVER_NAME), self.key(SERVER_NAME),
        ]  # fmt: skip


# Where an older `trashmon pki create` put the files (everything in one directory).
_FLAT_LAYOUT = {
    f"{ROOT_NAME}.crt": (CA_DIR, f"{ROOT_NAME}.crt"),
    f"{ROOT_NAME}.key": (CA_DIR, f"{ROOT_NAME}.key"),
    f"{INTERMEDIATE_NAME}.crt": (CA_DIR, f"{INTERMEDIATE_NAME}.crt"),
    f"{INTERMEDIATE_NAME}.key": (CA_DIR, f"{INTERMEDIATE_NAME}.key"),
    f"{SERVER_NAME}.crt": (BROKER_DIR, f"{SERVER_NAME}.crt"),
    f"{SERVER_NAME}.key": (BROKER_DIR, f"{SERVER_NAME}.key"),
}
_FLAT_GENERATED = (MOSQUITTO_CONF, ACL_FILE)


def _migrate_flat_layout(layout: Layout, notes: list[str]) -> None:
    """Move an older single-directory PKI into ca/ and broker/ (the files keep working)."""
    moved = False
    for old_name, (directory, new_name) in _FLAT_LAYOUT.items():
        old, new = layout.root / old_name, layout.root / directory / new_name
        if old.exists() and not new.exists():
            _directory(new.parent, 0o700 if directory == CA_DIR else 0o750)
            os.replace(old, new)
            moved = True
    if moved:
        for name in _FLAT_GENERATED:  # regenerated under broker/
            (layout.root / name).unlink(missing_ok=True)
        notes.append(
            f"moved the CA files to {layout.ca_dir} and the broker's to {layout.broker_dir}: "
            f"start mosquitto with -c {layout.mosquitto_conf}"
        )


@dataclass(frozen=True)
class PkiRequest:
    directory: Path
    cameras: tuple[str, ...]
    monitors: tuple[str, ...]
    dns_names: tuple[str, ...]
    ips: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]
    controllers: tuple[str, ...] = ()
    listen_port: int = 8883
    listen_address: str | None = None
    broker_user: str | None = None
    passphrase: CaPassphrase = field(default_factory=CaPassphrase)
    force: bool = False
    new_ca: bool = False
    seed_camera: str | None = None


def _exists(layout: Layout, name: str) -> bool:
    return layout.cert(name).exists() or layout.key(name).exists()


def _load_or_make_ca(
    layout: Layout,
    name: str,
    parent: Callable[[], Issuer] | None,
    *,
    replace: bool,
    passphrase: CaPassphrase,
    notes: list[str],
) -> tuple[Issuer, bool]:
    """The CA stored under ``name``, made (and signed by ``parent``) if missing or replaced."""
    if not replace and _exists(layout, name):
        stored = Issuer(
            _read_certificates(layout.cert(name))[0], _read_key(layout.key(name), passphrase)
        )
        return stored, False
    password = passphrase.for_new_key()  # asked before any key is made
    if parent is None:
        issuer = make_ca("trashmonitor root CA", None, path_length=1, days=ROOT_DAYS)
    else:
        issuer = make_ca(
            "trashmonitor intermediate CA", parent(), path_length=0, days=INTERMEDIATE_DAYS
        )
    _write(layout.key(name), _key_pem(issuer.key, password), 0o600)
    _write(layout.cert(name), _pem(issuer.certificate), 0o644)
    state = "encrypted" if password else "NOT encrypted (--no-ca-password)"
    notes.append(f"created {layout.cert(name)} (key {state})")
    return issuer, True


class _Authority:
    """The two CAs, loaded (and their passphrase asked for) only when something is signed."""

    def __init__(
        self, layout: Layout, passphrase: CaPassphrase, new_ca: bool, notes: list[str]
    ) -> None:
        self._layout, self._passphrase, self._notes = layout, passphrase, notes
        self._new_ca = new_ca
        self._root: Issuer | None = None
        self._intermediate: Issuer | None = None
        self.renewed = False  # a new intermediate: every leaf must be re-issued

    @property
    def needs_creating(self) -> bool:
        return self._new_ca or not _exists(self._layout, INTERMEDIATE_NAME)

    def root(self) -> Issuer:
        if self._root is None:
            self._root, _ = _load_or_make_ca(
                self._layout, ROOT_NAME, None, replace=self._new_ca,
                passphrase=self._passphrase, notes=self._notes,
            )  # fmt: skip
        return self._root

    def intermediate(self) -> Issuer:
        if self._intermediate is None:
            self._intermediate, self.renewed = _load_or_make_ca(
                self._layout, INTERMEDIATE_NAME, self.root, replace=self.needs_creating,
                passphrase=self._passphrase, notes=self._notes,
            )  # fmt: skip
        return self._intermediate

    def chain(self) -> bytes:
        """intermediate + root, from the certificates alone (no key needed)."""
        certificates = [
            _read_certificates(self._layout.cert(name))[0]
            for name in (INTERMEDIATE_NAME, ROOT_NAME)
        ]
        return _pem(*certificates)


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


def _named_roles(request: PkiRequest, existing: Mapping[str, str]) -> dict[str, str]:
    """identity -> role for the identities on the command line, checked against each
    other, the reserved names and the roles they already hold."""
    for camera in request.cameras:
        if camera.lower() in RESERVED_CAMERA_IDS:
            raise ConfigError(
                "--camera", f"{camera!r} is a role name, not a camera id (choose another id)"
            )
    named: dict[str, str] = {}
    for role, identities in (
        (ROLE_CAMERA, request.cameras),
        (ROLE_MONITOR, request.monitors),
        (ROLE_CONTROLLER, request.controllers),
    ):
        for identity in identities:
            if named.get(identity, role) != role:
                raise ConfigError("--camera/--monitor/--controller", f"{identity} named as both")
            held = existing.get(identity, role)
            if held != role:
                raise ConfigError(
                    f"--{role}",
                    f"{identity} is already a {held} identity "
                    f"(revoke it first: trashmon pki revoke DIR {identity})",
                )
            named[identity] = role
    return named


def create_pki(request: PkiRequest, report: list[str] | None = None) -> Layout:
    """Create what is missing and rewrite the broker config.

    ``force`` re-issues the leaf certificates named in the request (the broker's when
    names are given); ``new_ca`` replaces both CAs and re-issues every certificate.
    ``report`` collects one human line per file created or kept.
    """
    notes = report if report is not None else []
    layout = Layout(request.directory)
    _migrate_flat_layout(layout, notes)
    existing = read_clients(layout)
    named = _named_roles(request, existing)
    seed = request.seed_camera
    if seed is not None and {**existing, **named}.get(seed) != ROLE_CAMERA:
        # Checked before anything is written, like the names below.
        raise ConfigError("--seed-camera", f"{seed!r} is not a camera of this PKI")
    renew_server = request.new_ca or (request.force and bool(request.dns_names or request.ips))
    server_sans = _server_names(request, layout)
    if (renew_server or not _exists(layout, SERVER_NAME)) and not server_sans:
        # Checked before anything is written: a half-created PKI is confusing.
        raise ConfigError("--dns/--ip", "the broker certificate needs at least one name")
    _directory(layout.root, 0o755)
    _directory(layout.ca_dir, 0o700)
    _directory(layout.broker_dir, 0o750)
    authority = _Authority(layout, request.passphrase, request.new_ca, notes)
    if authority.needs_creating:
        authority.intermediate()
    chain = authority.chain()
    _write(layout.chain, chain, 0o644)
    _write(layout.broker_chain, chain, 0o644)

    if authority.renewed or renew_server or not _exists(layout, SERVER_NAME):
        _issue_server(layout, authority, server_sans, notes)
    else:
        notes.append(f"kept {layout.cert(SERVER_NAME)}")

    if ROLE_MONITOR not in {*existing.values(), *named.values()}:
        named[DEFAULT_MONITOR] = ROLE_MONITOR
    # A new CA invalidates every client: re-issue them all, keeping their roles.
    wanted = {**existing, **named} if authority.renewed else named
    _issue_clients(layout, authority, wanted, force=request.force, notes=notes)

    if authority.renewed or not _crl_is_current(layout):
        # Revocations of the old CA are moot: everything it signed was just re-issued.
        _write_crl(layout, authority.intermediate(), {})
        notes.append(f"wrote an empty {layout.crl}")
    _write_broker_config(layout, request, notes)
    return layout


def _issue_server(
    layout: Layout, authority: _Authority, sans: list[x509.GeneralName], notes: list[str]
) -> None:
    intermediate = authority.intermediate()
    cert, key = make_leaf(
        intermediate, str(sans[0].value), role=None, usage=ExtendedKeyUsageOID.SERVER_AUTH,
        sans=sans,
    )  # fmt: skip
    _write(layout.key(SERVER_NAME), _key_pem(key, None), 0o600)
    _write(layout.cert(SERVER_NAME), _pem(cert, intermediate.certificate), 0o644)
    names = ", ".join(str(san.value) for san in sans)
    notes.append(f"created {layout.cert(SERVER_NAME)} for {names}")


def _issue_clients(
    layout: Layout,
    authority: _Authority,
    wanted: Mapping[str, str],
    *,
    force: bool,
    notes: list[str],
) -> None:
    """A certificate for each identity in ``wanted`` (identity -> role) that has none,
    or for all of them after a new CA or with ``force``."""
    for identity, role in wanted.items():
        cert_path, key_path = layout.client_cert(identity), layout.client_key(identity)
        renew = authority.renewed or force
        if not renew and (cert_path.exists() or key_path.exists()):
            notes.append(f"kept {cert_path}")
            continue
        intermediate = authority.intermediate()
        cert, key = make_leaf(
            intermediate, identity, role=role, usage=ExtendedKeyUsageOID.CLIENT_AUTH
        )
        _write(key_path, _key_pem(key, None), 0o600)
        _write(cert_path, _pem(cert, intermediate.certificate), 0o644)
        notes.append(f"created {cert_path} ({role})")


def read_seed_camera(layout: Layout) -> str | None:
    """The camera ``--seed-camera`` chose (kept in broker/, so every ACL rewrite keeps it)."""
    try:
        name = layout.seed_camera.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return validate_identity(str(layout.seed_camera), name)


def _write_acl(layout: Layout) -> None:
    acl = render_acl(read_clients(layout), seed_camera=read_seed_camera(layout))
    _write(layout.acl, acl.encode(), 0o640)


def _write_broker_config(layout: Layout, request: PkiRequest, notes: list[str]) -> None:
    if request.seed_camera is not None:
        _write(layout.seed_camera, f"{request.seed_camera}\n".encode(), 0o640)
    _write_acl(layout)
    conf = render_mosquitto_conf(
        layout, request.listen_port, request.listen_address, request.broker_user
    )
    _write(layout.mosquitto_conf, conf.encode(), 0o640)
    _let_broker_read(layout, request.broker_user, notes)
    notes.append(f"wrote {layout.mosquitto_conf} and {layout.acl}")


def _let_broker_read(layout: Layout, broker_user: str | None, notes: list[str]) -> None:
    """Started as root, mosquitto switches to ``user`` (default ``mosquitto``) *before* it
    reads the key, ACL and CRL: give that account's group read access to broker/ (and to
    nothing else). Without root the files stay ours; the broker must run as us."""
    account = broker_user or DEFAULT_BROKER_ACCOUNT
    if os.geteuid() != 0:
        if account != getpass.getuser():
            notes.append(
                f"{layout.broker_dir} belongs to {getpass.getuser()}: run mosquitto as that "
                f"user, or re-run as root to give {account!r} read access"
            )
        return
    try:
        group = pwd.getpwnam(account).pw_gid
    except KeyError:
        notes.append(
            f"no account {account!r} here: give the user mosquitto runs as read access to "
            f"{layout.broker_dir} (or pass --broker-user)"
        )
        return
    os.chown(layout.broker_dir, 0, group)
    for path in layout.broker_files():
        if path.exists():
            os.chown(path, 0, group)
    layout.key(SERVER_NAME).chmod(0o640)  # the other files are 0640/0644 already


# --- revocation ------------------------------------------------------------------------


def _read_crl(layout: Layout) -> x509.CertificateRevocationList | None:
    if not layout.crl.exists():
        return None
    try:
        return x509.load_pem_x509_crl(layout.crl.read_bytes())
    except ValueError as error:
        raise ConfigError(str(layout.crl), "not a PEM CRL") from error


def _crl_is_current(layout: Layout) -> bool:
    """A CRL exists and was signed by the intermediate CA in place."""
    crl = _read_crl(layout)
    if crl is None:
        return False
    intermediate = _read_certificates(layout.cert(INTERMEDIATE_NAME))[0]
    return crl.issuer == intermediate.subject and crl.is_signature_valid(
        intermediate.public_key()  # type: ignore[arg-type]
    )


def revoked_serials(layout: Layout) -> dict[int, dt.datetime]:
    crl = _read_crl(layout)
    if crl is None:
        return {}
    return {entry.serial_number: entry.revocation_date_utc for entry in crl}


def _write_crl(layout: Layout, issuer: Issuer, revoked: Mapping[int, dt.datetime]) -> None:
    """The CRL mosquitto checks every client certificate against (``crlfile``).

    It is valid until the intermediate CA expires: OpenSSL refuses *every* client once a
    CRL's nextUpdate has passed, and nothing here re-signs it periodically.
    """
    now = _now()
    numbers = [0, *(_crl_number(crl) for crl in [_read_crl(layout)] if crl is not None)]
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.certificate.subject)
        .last_update(now - dt.timedelta(minutes=5))
        .next_update(issuer.certificate.not_valid_after_utc)
        .add_extension(x509.CRLNumber(max(numbers) + 1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    )
    for serial, when in sorted(revoked.items()):
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
        builder = builder.add_revoked_certificate(entry.build())
    crl = builder.sign(issuer.key, hashes.SHA256())
    _write(layout.crl, crl.public_bytes(serialization.Encoding.PEM), 0o644)


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    with contextlib.suppress(x509.ExtensionNotFound):
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    return 0


def revoke(
    directory: Path,
    identity: str,
    passphrase: CaPassphrase,
    broker_user: str | None = None,
    report: list[str] | None = None,
) -> Layout:
    """Put ``identity``'s certificate on the CRL, keep a copy under ca/revoked/, delete its
    key and drop it from the ACL. mosquitto reads the CRL at start: restart it."""
    notes = report if report is not None else []
    layout = Layout(directory)
    _migrate_flat_layout(layout, notes)
    cert_path = layout.client_cert(identity)
    if not cert_path.exists():
        raise ConfigError(identity, f"no certificate {cert_path} to revoke")
    info = read_certificate_info(cert_path)
    intermediate = _Authority(layout, passphrase, False, notes).intermediate()
    revoked = revoked_serials(layout) if _crl_is_current(layout) else {}
    revoked[info.serial] = _now()
    _write_crl(layout, intermediate, revoked)
    _directory(layout.revoked_dir, 0o700)
    os.replace(cert_path, layout.revoked_dir / f"{identity}-{info.serial:x}.crt")
    layout.client_key(identity).unlink(missing_ok=True)
    notes.append(f"revoked {identity} ({info.role}, serial {info.serial:x}); wrote {layout.crl}")
    _write_acl(layout)
    _let_broker_read(layout, broker_user, notes)
    notes.append("restart mosquitto so it loads the new CRL")
    return layout


def read_certificate_info(path: Path) -> CertificateInfo:
    leaf = _read_certificates(path)[0]
    return CertificateInfo(
        path=path,
        common_name=_attribute(leaf.subject, NameOID.COMMON_NAME),
        role=_attribute(leaf.subject, NameOID.ORGANIZATIONAL_UNIT_NAME),
        not_after=leaf.not_valid_after_utc,
        serial=leaf.serial_number,
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


def render_acl(clients: Mapping[str, str], seed_camera: str | None = None) -> str:
    """Per-identity rules, least privilege: a camera writes only its own status/state/events
    (and its own Home Assistant discovery document and snapshot topic) and reads only its
    own two control topics (and Home Assistant's birth message); a camera also writes its
    own control table (``controls``). A monitor only reads status, state, control tables,
    snapshots and answers (for the viewer's panel; it sends commands with a controller
    identity of its own); a controller (also Home Assistant's identity) sends control
    requests and reads answers, status, state, control tables, snapshots and discovery
    documents. Unknown roles get nothing.

    The seed's topics carry no camera id, so only ``seed_camera`` (one per broker, as the
    seed had it) may read ``camera/control/*`` and write ``camera/status``; controllers get
    the other side only when such a camera exists."""
    lines = [
        "# Generated by `trashmon pki`; regenerated from clients/*.crt on every run.",
        "# The username is the client certificate's CN (use_identity_as_username).",
        "",
    ]
    for identity, role in sorted(clients.items()):
        lines.append(f"user {identity}")
        if role == ROLE_MONITOR:
            lines += [
                f"topic read {TOPIC_ROOT}/+/status",
                f"topic read {TOPIC_ROOT}/+/state",
                f"topic read {TOPIC_ROOT}/+/controls",
                f"topic read {TOPIC_ROOT}/+/camera",
                f"topic read {TOPIC_ROOT}/+/events",
            ]
        elif role == ROLE_CONTROLLER:
            lines += [
                f"topic write {TOPIC_ROOT}/+/control/#",
                f"topic read {TOPIC_ROOT}/+/events",
                f"topic read {TOPIC_ROOT}/+/status",
                f"topic read {TOPIC_ROOT}/+/state",
                f"topic read {TOPIC_ROOT}/+/camera",
                f"topic read {TOPIC_ROOT}/+/controls",
                f"topic read {HA_PREFIX}/device/+/config",
                f"topic write {HA_PREFIX}/status",
            ]
            if seed_camera is not None and clients.get(seed_camera) == ROLE_CAMERA:
                lines += [f"topic write {topic}" for topic in SEED_TOPICS]
                lines.append(f"topic read {SEED_STATUS}")
        elif role == ROLE_CAMERA:
            base = f"{TOPIC_ROOT}/{identity}"
            lines += [
                f"topic write {base}/status",
                f"topic write {base}/state",
                f"topic write {base}/events",
                f"topic read {base}/control/settings",
                f"topic read {base}/control/action",
                f"topic write {base}/camera",
                f"topic write {base}/controls",
                f"topic write {HA_PREFIX}/device/{identity}/config",
                f"topic read {HA_PREFIX}/status",
            ]
            if identity == seed_camera:
                lines += [f"topic read {topic}" for topic in SEED_TOPICS]
                lines.append(f"topic write {SEED_STATUS}")
        lines.append("")
    return "\n".join(lines)


def render_mosquitto_conf(
    layout: Layout, port: int, address: str | None, user: str | None = None
) -> str:
    broker = layout.broker_dir.resolve()
    listener = f"listener {port}" + (f" {address}" if address else "")
    # Started as root, mosquitto switches to `user` (default "mosquitto") before it reads
    # the key, ACL and CRL; `trashmon pki` gives that account read access to broker/.
    user_line = [f"user {user}"] if user else []
    return "\n".join(
        [
            "# Generated by `trashmon pki`: one mutual-TLS listener, no anonymous access.",
            *user_line,
            "per_listener_settings false",
            # Control messages are tiny: without this, Nagle + delayed ACKs add ~40 ms.
            "set_tcp_nodelay true",
            "allow_anonymous false",
            f"acl_file {broker / ACL_FILE}",
            # The largest legitimate packet (docs/mqtt.md, "Message sizes"); a bigger one
            # disconnects its sender before the broker stores or forwards it.
            f"max_packet_size {MAX_PACKET_BYTES}",
            "",
            listener,
            f"cafile {broker / CHAIN_FILE}",
            f"certfile {broker / (SERVER_NAME + '.crt')}",
            f"keyfile {broker / (SERVER_NAME + '.key')}",
            f"crlfile {broker / CRL_FILE}",
            "require_certificate true",
            "use_identity_as_username true",
            # The client id becomes the certificate's CN: a certificate can no longer
            # connect under another client's id and take its session over.
            "use_username_as_clientid true",
            "tls_version tlsv1.2",
            "",
        ]
    )


# --- CLI -------------------------------------------------------------------------------


CREATE, REVOKE = "create", "revoke"
BOTH = (CREATE, REVOKE)


Names = tuple[str, ...]
Addresses = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]


# A repeated flag's values reach its parser one a line (split on "\n" only, so an empty
# value stays one value and is refused as before).
def identities(flag: str) -> Callable[[str], Names]:
    """A repeatable identity flag: each value a valid id; an error names the flag."""
    return lambda text: tuple(validate_identity(flag, name) for name in text.split("\n"))


def ip_addresses(text: str) -> Addresses:
    """``--ip``'s values; an error quotes the bad one only."""
    return tuple(parse_setting("--ip", line, parse_ip) for line in text.split("\n"))


def names(text: str) -> Names:
    return tuple(text.split("\n"))


# One row a setting (trashmonitor.settings.option): usage, env, parser, default, help. No
# flag has a variable; the CA passphrase is environment only (argv shows in `ps`), read
# from the variable --ca-password-env names by passphrase_from.
CAMERA: Setting[Names] = option(
    "--camera ID", None, identities("--camera"), (), "camera id (repeatable)",
    commands=(CREATE,), shown_default="none", repeat=True,
)  # fmt: skip
MONITOR: Setting[Names] = option(
    "--monitor ID", None, identities("--monitor"), (),
    "read-only observer identity for `trashmon monitor` (repeatable)", commands=(CREATE,),
    shown_default="`monitor` if none exists",
    repeat=True,
)  # fmt: skip
CONTROLLER: Setting[Names] = option(
    "--controller ID", None, identities("--controller"), (),
    "identity that may send control requests to every camera (repeatable)",
    commands=(CREATE,), shown_default="none", repeat=True,
)  # fmt: skip
SEED_CAMERA = option(
    "--seed-camera ID", None, lambda text: validate_identity("--seed-camera", text), None,
    "the one camera that serves the seed's camera/control/* topics (SEED_MQTT=on)",
    commands=(CREATE,), shown_default="none",
)  # fmt: skip
DNS: Setting[Names] = option(
    "--dns DNS", None, names, (), "broker DNS name (SAN)", commands=(CREATE,),
    shown_default="none", repeat=True,
)  # fmt: skip
IP: Setting[Addresses] = option(
    "--ip IP", None, ip_addresses, (), "broker IP address (SAN)", commands=(CREATE,),
    shown_default="none", repeat=True,
)  # fmt: skip
PORT = option("--port PORT", None, parse_positive_int, 8883, "mosquitto listener port",
              commands=(CREATE,))  # fmt: skip
BIND = option("--bind BIND", None, str, None, "mosquitto listener address",
              commands=(CREATE,), shown_default="all")  # fmt: skip
BROKER_USER = option(
    "--broker-user BROKER_USER", None, str, None,
    "the user mosquitto runs as (it must read broker/)", commands=BOTH,
    shown_default="mosquitto's own default, 'mosquitto'",
)  # fmt: skip
NO_CA_PASSWORD = switch(
    "--no-ca-password",
    f"write new CA keys unencrypted (default: encrypted with ${PASSPHRASE_ENV}, or a "
    "passphrase asked for on the terminal)", commands=BOTH,
)  # fmt: skip
CA_PASSWORD_ENV = option(
    "--ca-password-env VAR", None, str, PASSPHRASE_ENV,
    "the environment variable holding the CA passphrase", commands=BOTH,
)  # fmt: skip
FORCE = switch(
    "--force",
    "re-issue the named certificates (--camera/--monitor/--controller; the broker's with "
    "--dns/--ip)", commands=(CREATE,),
)  # fmt: skip
NEW_CA = switch("--new-ca", "replace the root and intermediate CA and re-issue every certificate",
                commands=(CREATE,))  # fmt: skip

SETTINGS = SettingsTable(
    "pki",
    (
        CAMERA, MONITOR, CONTROLLER, SEED_CAMERA, DNS, IP, PORT, BIND, BROKER_USER,
        NO_CA_PASSWORD, CA_PASSWORD_ENV, FORCE, NEW_CA,
    ),
)  # fmt: skip
"""``trashmon pki``'s settings: they generate the options of ``create`` and ``revoke``,
their ``--help`` and the table of docs/mqtt.md (``python -P -m trashmonitor.pki``)."""


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="pki_command", metavar="ACTION", required=True)
    create = sub.add_parser(CREATE, help="create or extend the PKI and write mosquitto.conf")
    create.add_argument("directory", type=Path, help="where the PKI lives (created if missing)")
    SETTINGS.add_arguments(create, CREATE)
    revoke_parser = sub.add_parser(
        REVOKE, help="revoke a client certificate (CRL for mosquitto; restart it)"
    )
    revoke_parser.add_argument("directory", type=Path)
    revoke_parser.add_argument("identity", metavar="ID", help="camera/monitor/controller id")
    SETTINGS.add_arguments(revoke_parser, REVOKE)
    show_parser = sub.add_parser("show", help="list certificates with their expiry")
    show_parser.add_argument("directory", type=Path)


def passphrase_from(
    settings: ReadSettings,
    environ: Mapping[str, str],
    interactive: bool,
) -> CaPassphrase:
    """The passphrase source the flags and environment select (the value is never shown)."""
    variable = settings[CA_PASSWORD_ENV]
    value = environ.get(variable)
    if value is None and variable != PASSPHRASE_ENV:
        raise ConfigError("--ca-password-env", f"environment variable {variable} is not set")
    if value is not None and not value:
        raise ConfigError(variable, "is set but empty")
    if value is not None and settings[NO_CA_PASSWORD]:
        raise ConfigError("--no-ca-password", f"conflicts with {variable} being set")
    return CaPassphrase(
        value=None if value is None else _checked_passphrase(variable, value),
        prompt=getpass.getpass if interactive and value is None else None,
        encrypt=not settings[NO_CA_PASSWORD],
    )


# PkiRequest's fields that create's settings give, as they are read.
_REQUEST_FIELDS: dict[str, Setting[Any]] = {
    "cameras": CAMERA, "monitors": MONITOR, "controllers": CONTROLLER, "dns_names": DNS,
    "ips": IP, "listen_port": PORT, "listen_address": BIND, "broker_user": BROKER_USER,
    "force": FORCE, "new_ca": NEW_CA, "seed_camera": SEED_CAMERA,
}  # fmt: skip


def _request(directory: Path, settings: ReadSettings, passphrase: CaPassphrase) -> PkiRequest:
    """``create``'s settings, read once, as the frozen request :func:`create_pki` serves."""
    read = {name: settings[setting] for name, setting in _REQUEST_FIELDS.items()}
    return PkiRequest(directory=directory, passphrase=passphrase, **read)


def all_certificates(layout: Layout) -> list[Path]:
    fixed = [layout.cert(name) for name in (ROOT_NAME, INTERMEDIATE_NAME, SERVER_NAME)]
    legacy = [layout.root / name for name in _FLAT_LAYOUT if name.endswith(".crt")]
    clients = sorted((layout.root / CLIENTS_DIR).glob("*.crt"))
    revoked = sorted(layout.revoked_dir.glob("*.crt"))
    return [path for path in fixed + legacy + clients + revoked if path.exists()]


def show(directory: Path, now: dt.datetime) -> tuple[list[str], bool]:
    """Lines of the expiry table and whether any certificate in use has expired."""
    layout = Layout(directory)
    paths = all_certificates(layout)
    if not paths:
        raise ConfigError(str(directory), "no certificates found (run `trashmon pki create`)")
    revoked = revoked_serials(layout)
    lines = [f"{'certificate':<36} {'CN':<28} {'role':<10} {'not after (UTC)':<20} days left"]
    expired = False
    for path in paths:
        info = read_certificate_info(path)
        days = (info.not_after - now).total_seconds() / 86400
        is_revoked = info.serial in revoked or path.parent == layout.revoked_dir
        expired |= days <= 0 and not is_revoked  # a revoked certificate is out of use
        left = "revoked" if is_revoked else f"{days:8.1f}"
        relative = path.relative_to(directory)
        lines.append(
            f"{relative!s:<36} {info.common_name:<28} {info.role or '-':<10} "
            f"{info.not_after:%Y-%m-%d %H:%M}     {left}"
        )
    return lines, expired


def run(args: argparse.Namespace) -> int:
    if args.pki_command == "show":
        lines, expired = show(args.directory, _now())
        print("\n".join(lines))
        return EXIT_UNHEALTHY if expired else EXIT_OK
    # Flags only (environ={}): the passphrase's variable is read by passphrase_from.
    settings = SETTINGS.read(args, args.pki_command, environ={})
    passphrase = passphrase_from(settings, os.environ, sys.stdin.isatty())
    notes: list[str] = []
    if args.pki_command == REVOKE:
        identity = validate_identity("ID", args.identity)
        revoke(args.directory, identity, passphrase, settings[BROKER_USER], notes)
        print("\n".join(notes))
        return EXIT_OK
    layout = create_pki(_request(args.directory, settings, passphrase), notes)
    print("\n".join(notes))
    print(f"start the broker: mosquitto -c {layout.mosquitto_conf.resolve()}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":  # the settings table of docs/mqtt.md
    print(SETTINGS.markdown(meaning=True), end="")
