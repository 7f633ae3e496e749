"""Per-camera publish credentials (issue 11 §1, §4): STREAM_USER + STREAM_PASSWORD_FILE
(or, as before, a password inside PUSH_URL) reach ffmpeg, and never the agent's logs,
errors, output or metrics (the redaction itself: test_redact.py)."""

from __future__ import annotations

import argparse
import base64
import contextlib
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from support.background import BackgroundLoop
from support.processes import clean_environ, run_trashmon, wait_until

from capture.harness import start_agent_process, stop_agent_process
from trashmonitor.capture.command import build_command
from trashmonitor.capture.config import (
    AgentConfig,
    add_arguments,
    load_config,
    read_agent_env_file,
)
from trashmonitor.capture.redact import redact
from trashmonitor.errors import ConfigError

# Characters that break naive URL handling: "@" (the userinfo separator), ":" (the
# user/password separator), "/", "%", "?", "#" and a space.
PASSWORD = "p@ss w:rd/%?#x"
ENCODED = quote(PASSWORD, safe="")


def env_file(directory: Path, body: str, name: str = "cam1.env") -> Path:
    path = directory / name
    path.write_text("CAMERA_DEV=testsrc\nFPS=5\nWIDTH=320\nHEIGHT=240\nBITRATE=200k\n" + body)
    return path


def credentials_dir(tmp_path: Path, password: str = PASSWORD) -> Path:
    directory = tmp_path / "credentials"
    directory.mkdir()
    (directory / "stream.password").write_text(password + "\n")
    (directory / "stream.password").chmod(0o400)
    return directory


def stream_env(tmp_path: Path, push_url: str, password_file: str) -> Path:
    """A camera env file publishing to ``push_url`` as cam1 with ``password_file``."""
    return env_file(
        tmp_path,
        f"PUSH_URL={push_url}\nSTREAM_USER=cam1\nSTREAM_PASSWORD_FILE={password_file}\n",
    )


def load(path: Path, *flags: str) -> AgentConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return load_config(parser.parse_args(["--env-file", str(path), *flags]))


def assert_secret_free(text: str) -> None:
    for form in (PASSWORD, ENCODED, "p@ss", "w:rd"):
        assert form not in text


def test_print_command_with_at_in_an_inline_password(tmp_path: Path) -> None:
    path = env_file(tmp_path, "PUSH_URL=rtsp://publisher:s3cr@tail@mtx.example:8554/cam1\n")
    done = run_trashmon("capture", "--env-file", str(path), "--print-command", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "rtsp://***@mtx.example:8554/cam1" in done.stdout
    assert "tail@" not in done.stdout + done.stderr
    assert "s3cr" not in done.stdout + done.stderr


def test_a_bad_push_url_is_refused_without_echoing_its_password(tmp_path: Path) -> None:
    """Today's main quoted the whole bad value back, password included."""
    path = env_file(tmp_path, "PUSH_URL=rtsp://publisher:s3cret@mtx.example:8554/a|b\n")
    done = run_trashmon("capture", "--env-file", str(path), "--print-command", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "trashmon capture: error: PUSH_URL: must not contain | [ or ], "
        "got 'rtsp://***@mtx.example:8554/a|b'"
    ]


# -- STREAM_USER + STREAM_PASSWORD_FILE -----------------------------------------------------


def test_the_password_file_reaches_the_ffmpeg_argv_percent_encoded(tmp_path: Path) -> None:
    secrets = credentials_dir(tmp_path)
    path = stream_env(tmp_path, "rtsp://mtx.example:8554/cam1", f"{secrets}/stream.password")
    config = load(path)
    argv = build_command(config)
    assert argv[-1] == f"rtsp://cam1:{ENCODED}@mtx.example:8554/cam1"
    assert PASSWORD not in repr(config)

    buffered = load(path, "--buffer-dir", str(tmp_path / "buffer"))
    tee = build_command(buffered)[-1]
    assert tee.startswith(
        f"[f=rtsp:rtsp_transport=tcp:timeout=5000000:onfail=ignore]"
        f"rtsp://cam1:{ENCODED}@mtx.example:8554/cam1|"
    )
    assert redact(tee, buffered.secrets).startswith(
        "[f=rtsp:rtsp_transport=tcp:timeout=5000000:onfail=ignore]rtsp://***@mtx.example"
    )


def test_credentials_directory_paths_are_expanded(tmp_path: Path) -> None:
    """systemd's LoadCredential= puts the files in $CREDENTIALS_DIRECTORY, readable only
    by this unit: the env file refers to them as ${CREDENTIALS_DIRECTORY}/name."""
    secrets = credentials_dir(tmp_path)
    path = env_file(
        tmp_path,
        "PUSH_URL=rtsp://mtx.example:8554/cam1\nSTREAM_USER=cam1\n"
        "STREAM_PASSWORD_FILE=${CREDENTIALS_DIRECTORY}/stream.password\n"
        "MQTT_KEY=$CREDENTIALS_DIRECTORY/mqtt.key\n",
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CREDENTIALS_DIRECTORY", str(secrets))
        values = read_agent_env_file(path)
        config = load(path)
    assert values["MQTT_KEY"] == str(secrets / "mqtt.key")
    assert values["STREAM_PASSWORD_FILE"] == str(secrets / "stream.password")
    assert config.stream_password == PASSWORD


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("STREAM_USER=cam1\n", "STREAM_PASSWORD_FILE: required with STREAM_USER"),
        ("STREAM_PASSWORD_FILE=/x\n", "STREAM_USER: required with STREAM_PASSWORD_FILE"),
        ("STREAM_USER=cam1\nSTREAM_PASSWORD_FILE={missing}\n",
         "STREAM_PASSWORD_FILE: cannot read {missing} (No such file or directory)"),
        ("STREAM_USER=cam1\nSTREAM_PASSWORD_FILE={empty}\n",
         "STREAM_PASSWORD_FILE: {empty} must hold the password on one line"),
        ("STREAM_USER=cam1\nSTREAM_PASSWORD_FILE=${{CREDENTIALS_DIRECTORY}}/p\n",
         "STREAM_PASSWORD_FILE: refers to $CREDENTIALS_DIRECTORY, which systemd sets only"),
        ("STREAM_USER=a b\nSTREAM_PASSWORD_FILE={secret}\n",
         "STREAM_USER: expected a user name without spaces"),
    ],
    ids=["user-alone", "file-alone", "missing-file", "empty-file", "no-credentials-dir",
         "bad-user"],
)  # fmt: skip
def test_credential_settings_errors_name_the_setting_not_the_secret(
    tmp_path: Path, body: str, message: str
) -> None:
    secret = credentials_dir(tmp_path) / "stream.password"
    empty = tmp_path / "empty"
    empty.write_text("\n")
    names = {"missing": tmp_path / "absent", "empty": empty, "secret": secret}
    path = env_file(tmp_path, "PUSH_URL=rtsp://mtx.example:8554/cam1\n" + body.format(**names))
    env = clean_environ()
    env.pop("CREDENTIALS_DIRECTORY", None)
    done = run_trashmon("capture", "--env-file", str(path), "--print-command", env=env)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"trashmon capture: error: {message.format(**names)}")
    assert_secret_free(done.stdout + done.stderr)


def test_credentials_in_both_push_url_and_stream_user_are_refused(tmp_path: Path) -> None:
    secrets = credentials_dir(tmp_path)
    path = stream_env(tmp_path, "rtsp://old:pw@mtx.example:8554/cam1", f"{secrets}/stream.password")
    with pytest.raises(ConfigError, match="PUSH_URL already carries credentials"):
        load(path)


# -- end to end: real agent, real ffmpeg, an RTSP server that asks for Basic auth ------------


class AuthRecordingServer(BackgroundLoop):
    """Answers every RTSP request with 401 + ``WWW-Authenticate: Basic`` and records the
    credentials ffmpeg sends back, decoded: what MediaMTX would check."""

    join_seconds = 10.0

    def __init__(self) -> None:
        super().__init__()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(8)
        self._sock.settimeout(0.5)
        self.port = self._sock.getsockname()[1]
        self.credentials: list[str] = []

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with conn:
                self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        buffer = b""
        with contextlib.suppress(OSError):
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = re.search(rb"(?i)content-length:\s*(\d+)", head)
                need = int(length.group(1)) if length else 0
                while len(buffer) < need:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                buffer = buffer[need:]
                auth = re.search(rb"(?i)authorization:\s*basic\s+(\S+)", head)
                if auth:
                    self.credentials.append(base64.b64decode(auth.group(1)).decode())
                cseq = re.search(rb"(?i)cseq:\s*(\d+)", head)
                number = cseq.group(1).decode() if cseq else "0"
                conn.sendall(
                    f"RTSP/1.0 401 Unauthorized\r\nCSeq: {number}\r\n"
                    'WWW-Authenticate: Basic realm="mediamtx"\r\n\r\n'.encode()
                )

    def close(self) -> None:
        self._sock.close()


@pytest.fixture
def rtsp_auth() -> Iterator[AuthRecordingServer]:
    with AuthRecordingServer() as server:
        yield server


def test_agent_publishes_with_the_file_password_and_never_shows_it(
    tmp_path: Path, rtsp_auth: AuthRecordingServer
) -> None:
    secrets = credentials_dir(tmp_path)
    path = stream_env(
        tmp_path,
        f"rtsp://127.0.0.1:{rtsp_auth.port}/cam1",
        "${CREDENTIALS_DIRECTORY}/stream.password",
    )
    agent = start_agent_process(
        tmp_path, "--env-file", str(path), env={"CREDENTIALS_DIRECTORY": str(secrets)}
    )
    try:
        wait_until(lambda: rtsp_auth.credentials, 60, what="ffmpeg's Authorization header")
        wait_until(lambda: "exited with" in agent.log(), 60, what="the agent logging ffmpeg's exit")
        metrics = "\n".join(f"{k} {v}" for k, v in agent.scrape().items())
    finally:
        stop_agent_process(agent.proc)

    assert rtsp_auth.credentials[0] == f"cam1:{PASSWORD}"  # reached ffmpeg, decoded intact
    log = agent.log()
    assert f"rtsp://***@127.0.0.1:{rtsp_auth.port}/cam1" in log
    assert_secret_free(log)
    assert_secret_free(metrics)
    printed = run_trashmon(
        "capture", "--env-file", str(path), "--print-command",
        env=clean_environ(CREDENTIALS_DIRECTORY=str(secrets)),
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert f"rtsp://***@127.0.0.1:{rtsp_auth.port}/cam1" in printed.stdout
    assert_secret_free(printed.stdout + printed.stderr)
