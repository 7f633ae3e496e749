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


def test_scriptlets_reload_stop_only_on_removal_and_restart_on_upgrade(package: Path) -> None:
    scripts = _scriptlets(package)
    post, preun, postun = scripts["POSTIN"], scripts["PREUN"], scripts["POSTUN"]
    assert "systemctl daemon-reload" in post
    assert "systemctl daemon-reload" in postun
    assert f"python3 -m venv {VENV}" in post
    assert "--force-reinstall" in post  # a same-version rebuild still replaces the code
    # %preun: rpm passes 0 on removal, 1 on upgrade; stopping the agents and deleting
    # the virtualenv happen only inside the removal branches.
    removal = [block for block in preun.split("\nfi") if '"$1" -eq 0' in block]
    assert len(removal) == 2
    assert "systemctl stop trashcam.target 'trashcam@*.service'" in removal[0]
    assert "disable" in removal[0]
    assert f"rm -rf {VENV}" in removal[1]
    outside = preun
    for block in removal:
        outside = outside.replace(block, "")
    assert "systemctl" not in outside
    assert "rm " not in outside
    assert '"$1" -ge 1' in postun
    assert "try-restart 'trashcam@*.service'" in postun
    assert "rm " not in postun
    for body in scripts.values():
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
    for tool in directory.iterdir():
        tool.chmod(0o755)
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


def test_builder_passes_shellcheck() -> None:
    done = subprocess.run(
        [require_binary("shellcheck"), str(BUILD)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout


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
