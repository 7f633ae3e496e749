"""The trashcam RPM, built by capture/rpm/build (what `just rpm` runs) with Debian's real
rpmbuild and read back with rpm itself: files and modes, config files, requirements,
scriptlets (shellcheck-clean, the account creation run against stub tools), and the
payload: the units exactly as capture/systemd/ ships them and a wheel that runs."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.processes import REPO, require_binary, run_trashmon

BUILD = REPO / "capture" / "rpm" / "build"
UNITS = REPO / "capture" / "systemd"
SCRIPTLETS = ("PREIN", "POSTIN", "PREUN", "POSTUN")
VENV = "/opt/trashcam/venv"


def _rpm(*args: str) -> str:
    done = subprocess.run(
        [require_binary("rpm"), *args], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once for the module, offline: in a network namespace of its own (no
    interface but a down loopback), so any download would fail the build."""
    require_binary("rpmbuild")
    out = tmp_path_factory.mktemp("rpm")
    done = subprocess.run(
        [require_binary("unshare"), "--net", str(BUILD), str(out)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    built = Path(done.stdout.strip())
    assert built.parent == out, done.stdout
    assert built.name == "trashcam-0.1.0-1.noarch.rpm", done.stdout
    assert sorted(out.iterdir()) == [built]
    return built


def _query(package: Path, fmt: str) -> list[str]:
    return _rpm("-qp", "--queryformat", fmt, str(package)).splitlines()


def _payload(package: Path) -> dict[str, tarfile.TarInfo | bytes]:
    archive = subprocess.run(
        [require_binary("rpm2archive"), "-"],
        stdin=package.open("rb"), capture_output=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    contents: dict[str, tarfile.TarInfo | bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for member in tar:
            name = "/" + member.name.removeprefix("./").rstrip("/")
            extracted = tar.extractfile(member) if member.isfile() else None
            contents[name] = extracted.read() if extracted is not None else member
    return contents


def _by_file(package: Path, tag: str) -> dict[str, str]:
    """``tag``'s value for each file of the package, by path."""
    rows = _query(package, f"[%{{FILENAMES}} %{{{tag}}}\n]")
    return dict(row.split(" ", 1) for row in rows)


def test_files_modes_and_owners(package: Path) -> None:
    rows = _query(package, "[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]")
    assert sorted(rows) == sorted(
        [
            "drwxr-xr-x root:root /etc/trashcam",
            "-rw-r--r-- root:root /etc/trashcam/example.env",
            "drwxr-xr-x root:root /etc/trashcam/pki",
            "drwxr-xr-x root:root /opt/trashcam",
            f"drwxr-xr-x root:root {VENV}",
            "drwxr-xr-x root:root /opt/trashcam/wheels",
            "-rw-r--r-- root:root /opt/trashcam/wheels/trashmonitor-0.1.0-py3-none-any.whl",
            "lrwxrwxrwx root:root /usr/bin/trashmon",
            "-rw-r--r-- root:root /usr/lib/systemd/system/trashcam.target",
            "-rw-r--r-- root:root /usr/lib/systemd/system/trashcam@.service",
            "drwxr-xr-x root:root /usr/share/licenses/trashcam",
            "-rw-r--r-- root:root /usr/share/licenses/trashcam/LICENSE",
        ]
    )
    # Same list from `rpm -qlp`, the command docs/capture.md shows.
    assert sorted(_rpm("-qlp", str(package)).split()) == sorted(row.split()[-1] for row in rows)


def test_config_is_the_example_env_kept_on_upgrade_and_the_venv_is_a_ghost(
    package: Path,
) -> None:
    assert _rpm("-qpc", str(package)).split() == ["/etc/trashcam/example.env"]
    flags = _by_file(package, "FILEFLAGS:fflags")
    assert set(flags["/etc/trashcam/example.env"]) == {"c", "n"}  # %config(noreplace)
    assert flags[VENV] == "g"  # made by %post; owned, so `rpm -qf` answers for it
    assert flags["/usr/share/licenses/trashcam/LICENSE"] == "l"


def test_installs_verifies_and_erases_cleanly_in_a_scratch_root(
    package: Path, tmp_path: Path
) -> None:
    """rpm itself lays the package into an empty root with its own database (without
    scriptlets and dependencies: they need the host), verifies it, and erases it."""
    root = tmp_path / "root"
    root.mkdir()
    for args in (("--initdb",), ("-i", "--nodeps", "--noscripts", str(package))):
        _rpm("--root", str(root), *args)
    installed = {str(path.relative_to(root)) for path in root.rglob("*")}
    expected = _rpm("-qlp", str(package)).split()
    ghost = VENV.lstrip("/")
    assert {path.lstrip("/") for path in expected} - installed == {ghost}  # %post makes it
    assert os.readlink(root / "usr/bin/trashmon") == f"{VENV}/bin/trashmon"
    assert (root / "etc/trashcam/example.env").stat().st_mode & 0o777 == 0o644
    assert _rpm("--root", str(root), "-V", "--nodeps", "trashcam") == ""
    _rpm("--root", str(root), "-e", "--nodeps", "--noscripts", "trashcam")
    left = {str(path.relative_to(root)) for path in root.rglob("*")}
    # Only the database and the parents every system has are left.
    assert sorted(path for path in left if "trashcam" in path or "trashmon" in path) == []


def test_requires_the_tools_the_agent_runs(package: Path) -> None:
    requires = set(_rpm("-qp", "--requires", str(package)).splitlines())
    assert {"ffmpeg", "v4l-utils", "python3 >= 3.11", "systemd", "shadow-utils"} <= requires
    assert _query(package, "%{ARCH}") == ["noarch"]


def test_payload_units_are_capture_systemd_as_shipped(package: Path) -> None:
    payload = _payload(package)
    for unit in ("trashcam@.service", "trashcam.target"):
        assert payload[f"/usr/lib/systemd/system/{unit}"] == (UNITS / unit).read_bytes(), unit
    assert payload["/etc/trashcam/example.env"] == (REPO / "capture/rpm/example.env").read_bytes()
    # The header's digests agree (what `rpm -V` checks on a host).
    digests = _by_file(package, "FILEDIGESTS")
    unit = "/usr/lib/systemd/system/trashcam@.service"
    assert digests[unit] == hashlib.sha256((UNITS / "trashcam@.service").read_bytes()).hexdigest()
    # The unit's ExecStart is /usr/bin/trashmon: the virtualenv's, once %post made it.
    link = payload["/usr/bin/trashmon"]
    assert isinstance(link, tarfile.TarInfo)
    assert link.issym()
    assert link.linkname == f"{VENV}/bin/trashmon"
    unit_text = (UNITS / "trashcam@.service").read_text()
    assert "ExecStart=/usr/bin/trashmon capture --id %i" in unit_text


def test_packaged_wheel_runs_the_capture_agent(package: Path, tmp_path: Path) -> None:
    wheel_bytes = _payload(package)["/opt/trashcam/wheels/trashmonitor-0.1.0-py3-none-any.whl"]
    assert isinstance(wheel_bytes, bytes)
    wheel = tmp_path / "trashmonitor-0.1.0-py3-none-any.whl"
    wheel.write_bytes(wheel_bytes)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read("trashmonitor-0.1.0.dist-info/entry_points.txt").decode()
    assert "trashmonitor/capture/agent_cli.py" in names
    assert "trashmonitor/capture/systemd/trashcam@.service" in names
    assert "trashmon = trashmonitor.cli:main" in entry_points
    # Installed without network or dependencies into a folder put first on the path, so
    # the code that runs is the packaged code, not this checkout's editable install.
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
         "--target", str(target), str(wheel)],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = "import trashmonitor.capture.agent_cli as m; print(m.__file__)"
    where = subprocess.run(
        [sys.executable, "-P", "-c", code], env=env, capture_output=True, text=True,
        timeout=60, check=True,
    ).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(target), where
    usage = subprocess.run(
        [sys.executable, "-P", "-m", "trashmonitor", "capture", "--help"], env=env,
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert usage.returncode == 0, usage.stderr
    assert "/etc/trashcam/<id>.env" in usage.stdout


def test_example_env_is_a_valid_camera_for_the_real_agent() -> None:
    done = run_trashmon(
        "capture", "--id", "frontdoor", "--env-file", str(REPO / "capture/rpm/example.env"),
        "--print-command", cwd=Path("/"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "-i /dev/video0" in done.stdout
    assert done.stdout.rstrip().endswith("rtsp://trashmonitor-rtsp:8554/frontdoor")


def _scriptlets(package: Path) -> dict[str, str]:
    return {tag: "\n".join(_query(package, f"%{{{tag}}}")) for tag in SCRIPTLETS}


def test_scriptlets_pass_shellcheck(package: Path, tmp_path: Path) -> None:
    for tag, body in _scriptlets(package).items():
        assert body not in ("", "(none)"), tag
        script = tmp_path / f"{tag}.sh"
        script.write_text("#!/bin/sh\n" + body + "\n")
        done = subprocess.run(
            [require_binary("shellcheck"), "--shell=sh", str(script)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"{tag}:\n{done.stdout}"
    interpreters = _query(package, "%{PREINPROG} %{POSTINPROG} %{PREUNPROG} %{POSTUNPROG}")
    assert interpreters == ["/bin/sh /bin/sh /bin/sh /bin/sh"]


@dataclass(frozen=True)
class Outcome:
    code: int
    stderr: str
    calls: list[str]
    venv_left: bool


WHEEL = "/opt/trashcam/wheels/trashmonitor-0.1.0-py3-none-any.whl"
SANDBOX = """set -eu
# A mount namespace of its own: /opt, /run/systemd and /etc/systemd/system are empty
# tmpfs here, the host's stay untouched.
for dir in /opt /run/systemd /etc/systemd/system; do mount -t tmpfs trashcam-test "$dir"; done
mkdir -p /opt/trashcam/wheels && : > {wheel}
{setup}
if PATH="$STUBS:$PATH" /bin/sh -c "$BODY" scriptlet "$ARG" 2> "$OUT/stderr"; then
    echo 0 > "$OUT/code"
else
    echo $? > "$OUT/code"
fi
if [ -e {venv} ]; then echo yes > "$OUT/venv"; else echo no > "$OUT/venv"; fi
"""


def _run_scriptlet(
    body: str,
    arg: int,
    tmp_path: Path,
    *,
    systemd_running: bool = True,
    venv: bool = False,
    enabled: tuple[str, ...] = (),
    pip_exit: int = 0,
) -> Outcome:
    """Run one scriptlet as rpm does (``/bin/sh -c BODY``, ``$1`` the count of installed
    versions after the transaction) with systemctl and python3 stubbed to log their
    arguments, in a private mount namespace."""
    out = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}"
    stubs = out / "stubs"
    stubs.mkdir(parents=True)
    log = out / "calls.log"
    log.touch()
    (stubs / "systemctl").write_text(f'#!/bin/sh\necho "systemctl $*" >> {log}\n')
    (stubs / "venv-python").write_text(
        f'#!/bin/sh\necho "venv-python $*" >> {log}\nexit {pip_exit}\n'
    )
    (stubs / "python3").write_text(
        f'#!/bin/sh\necho "python3 $*" >> {log}\n'
        f'if [ "$1 $2" = "-m venv" ]; then\n'
        f'    mkdir -p "$3/bin" && cp {stubs}/venv-python "$3/bin/python"\nfi\n'
    )
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    setup = []
    if systemd_running:
        setup.append("mkdir -p /run/systemd/system")
    if venv:
        setup.append(f"mkdir -p {VENV}/bin && cp {stubs}/venv-python {VENV}/bin/python")
    for unit in enabled:
        wants = "/etc/systemd/system/trashcam.target.wants"
        setup.append(
            f"mkdir -p {wants} && ln -s /usr/lib/systemd/system/trashcam@.service {wants}/{unit}"
        )
    driver = out / "driver.sh"
    driver.write_text(SANDBOX.format(wheel=WHEEL, venv=VENV, setup="\n".join(setup)))
    env = {**os.environ, "BODY": body, "ARG": str(arg), "STUBS": str(stubs), "OUT": str(out)}
    subprocess.run(
        [require_binary("unshare"), "--mount", "/bin/sh", str(driver)],
        env=env, timeout=60, check=True,
    )  # fmt: skip
    return Outcome(
        code=int((out / "code").read_text()),
        stderr=(out / "stderr").read_text(),
        calls=log.read_text().splitlines(),
        venv_left=(out / "venv").read_text().strip() == "yes",
    )


PIP = "-m pip install --quiet --disable-pip-version-check"


def test_post_makes_the_venv_installs_the_wheel_and_reloads(package: Path, tmp_path: Path) -> None:
    post = _scriptlets(package)["POSTIN"]
    fresh = _run_scriptlet(post, 1, tmp_path)
    assert fresh.calls == [
        f"python3 -m venv {VENV}",
        f"venv-python {PIP} --find-links /opt/trashcam/wheels {WHEEL}",
        # A same-version rebuild must still replace the code.
        f"venv-python {PIP} --no-deps --force-reinstall {WHEEL}",
        "systemctl daemon-reload",
    ]
    assert (fresh.code, fresh.stderr, fresh.venv_left) == (0, "", True)
    # Upgrade: the virtualenv is reused; no systemd (a chroot or image build): no systemctl.
    upgrade = _run_scriptlet(post, 2, tmp_path, venv=True, systemd_running=False)
    assert [call.split()[0] for call in upgrade.calls] == ["venv-python", "venv-python"]


def test_post_says_in_one_line_when_pip_cannot_install(package: Path, tmp_path: Path) -> None:
    failed = _run_scriptlet(_scriptlets(package)["POSTIN"], 1, tmp_path, pip_exit=1)
    assert failed.code == 0  # the package stays installed; the message says what to do
    assert failed.stderr.count("\n") == 1
    assert failed.stderr.startswith(f"trashcam: could not install the agent into {VENV}")
    assert failed.stderr.rstrip().endswith("then: dnf reinstall trashcam")
    assert "--force-reinstall" not in " ".join(failed.calls)
    assert failed.calls[-1] == "systemctl daemon-reload"


def test_preun_stops_and_disables_only_on_removal(package: Path, tmp_path: Path) -> None:
    preun = _scriptlets(package)["PREUN"]
    cameras = ("trashcam@cam1.service", "trashcam@cam2.service")
    upgrade = _run_scriptlet(preun, 1, tmp_path, venv=True, enabled=cameras)
    assert (upgrade.code, upgrade.calls, upgrade.venv_left) == (0, [], True)
    removal = _run_scriptlet(preun, 0, tmp_path, venv=True, enabled=cameras)
    assert removal.calls == [
        "systemctl stop trashcam.target trashcam@*.service",
        "systemctl --no-reload disable trashcam@cam1.service",
        "systemctl --no-reload disable trashcam@cam2.service",
        "systemctl --no-reload disable trashcam.target",
    ]
    assert (removal.code, removal.venv_left) == (0, False)
    # Nothing enabled, systemd not running: the virtualenv still goes.
    bare = _run_scriptlet(preun, 0, tmp_path, venv=True, systemd_running=False)
    assert (bare.code, bare.calls, bare.venv_left) == (0, [], False)


def test_postun_reloads_and_restarts_running_cameras_on_upgrade(
    package: Path, tmp_path: Path
) -> None:
    postun = _scriptlets(package)["POSTUN"]
    upgrade = _run_scriptlet(postun, 1, tmp_path, venv=True)
    assert upgrade.calls == ["systemctl daemon-reload", "systemctl try-restart trashcam@*.service"]
    assert upgrade.venv_left
    removal = _run_scriptlet(postun, 0, tmp_path)
    assert removal.calls == ["systemctl daemon-reload"]
    for body in _scriptlets(package).values():
        assert body.rstrip().endswith("exit 0")  # a scriptlet never fails a transaction


def _stub_tools(directory: Path, existing: set[str]) -> Path:
    """getent/groupadd/useradd/usermod that log their arguments; getent finds the names in
    ``existing``."""
    directory.mkdir()
    log = directory / "calls.log"
    known = " ".join(sorted(existing))
    (directory / "getent").write_text(
        f'#!/bin/sh\necho "getent $*" >> {log}\n'
        f'for name in {known}; do [ "$2" = "$name" ] && exit 0; done\nexit 2\n'
    )
    for tool in ("groupadd", "useradd", "usermod"):
        (directory / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\n')
    for stub in directory.iterdir():
        stub.chmod(0o755)
    return log


def _run_prein(body: str, stubs: Path) -> None:
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}"}
    subprocess.run(["/bin/sh", "-c", body, "prein", "1"], env=env, timeout=30, check=True)


def test_prein_creates_the_system_account_once(package: Path, tmp_path: Path) -> None:
    body = _scriptlets(package)["PREIN"]
    fresh = _stub_tools(tmp_path / "fresh", existing={"video"})
    _run_prein(body, fresh.parent)
    calls = [line for line in fresh.read_text().splitlines() if not line.startswith("getent")]
    assert calls == [
        "groupadd --system trashcam",
        "useradd --system --gid trashcam --no-create-home --home-dir /nonexistent "
        "--shell /sbin/nologin --comment trashmonitor capture agent trashcam",
        "usermod --append --groups video trashcam",
    ]
    # Upgrade or reinstall: the account exists and is left as the administrator made it.
    again = _stub_tools(tmp_path / "again", existing={"video", "trashcam"})
    _run_prein(body, again.parent)
    assert all(line.startswith("getent") for line in again.read_text().splitlines())
    # A host without a video group still gets the account.
    bare = _stub_tools(tmp_path / "bare", existing=set())
    _run_prein(body, bare.parent)
    assert "usermod" not in bare.read_text()
    assert "useradd --system" in bare.read_text()


def _build_with(
    tmp_path: Path, tools: tuple[str, ...], **env: str
) -> subprocess.CompletedProcess[str]:
    """The builder with only ``tools`` on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in tools:
        (bin_dir / tool).symlink_to(require_binary(tool))
    return subprocess.run(
        ["/bin/bash", str(BUILD), str(tmp_path / "out")],
        env={"PATH": str(bin_dir), **env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_builder_without_rpmbuild_says_so_in_one_line(tmp_path: Path) -> None:
    done = _build_with(tmp_path, ("dirname",))
    assert done.returncode == 2
    assert done.stderr == (
        "capture/rpm/build: rpmbuild is missing: run scripts/setup (Debian package rpm)\n"
    )


def test_builder_without_the_venv_python_says_so_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-python"
    done = _build_with(tmp_path, ("dirname", "rpmbuild"), PYTHON=str(missing))
    assert done.returncode == 2
    assert done.stderr == (
        f"capture/rpm/build: no Python at {missing}: run scripts/setup, or set PYTHON\n"
    )
    assert not (tmp_path / "out").exists()
