"""Static lint of server/Containerfile: no container engine runs here (GUIDE §9).

What a build would catch first is checked by reading the file: every COPY source
exists in the build context, every stage it copies from is defined, every base image is
pinned, MediaMTX is pinned by version and digest, the image runs as non-root through
the entrypoint, and the rules/dashboards land at the documented paths.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
from support.processes import REPO

CONTAINERFILE = REPO / "server" / "Containerfile"
IGNOREFILE = REPO / "server" / "Containerfile.dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: continuation lines joined, comments dropped."""
    result: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = pending + line
        pending = ""
        keyword, _, arguments = full.strip().partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip()))
    return result


def arg_defaults(parsed: list[Instruction]) -> dict[str, str]:
    defaults = {}
    for instruction in parsed:
        if instruction.keyword == "ARG" and "=" in instruction.arguments:
            name, _, value = instruction.arguments.partition("=")
            defaults[name] = value
    return defaults


def expand(value: str, defaults: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults.get(m[1] or m[2], m[0]), value)


def copy_sources(instruction: Instruction) -> tuple[str | None, list[str]]:
    """(--from stage or None, sources) of a COPY."""
    words = shlex.split(instruction.arguments)
    stage = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
    paths = [w for w in words if not w.startswith("--")]
    return stage, paths[:-1]


def lint(text: str, context: Path) -> list[str]:
    parsed = instructions(text)
    defaults = arg_defaults(parsed)
    problems = []
    stages: set[str] = set()
    for instruction in parsed:
        if instruction.keyword == "FROM":
            image, _, alias = instruction.arguments.partition(" AS ")
            image = expand(image.strip(), defaults)
            if image not in stages:
                name = image.split("@", 1)[0]
                tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
                if not re.search(r"\d", tag) or tag == "latest":
                    problems.append(f"FROM {image}: not pinned to a version tag")
            if alias.strip():
                stages.add(alias.strip())
        elif instruction.keyword in ("COPY", "ADD"):
            stage, sources = copy_sources(instruction)
            if stage is not None:
                if stage not in stages:
                    problems.append(f"COPY --from={stage}: no such stage")
                continue
            problems += [
                f"COPY {source}: not in the build context"
                for source in sources
                if not (context / source).exists()
            ]
    users = [i.arguments for i in parsed if i.keyword == "USER"]
    if not users or users[-1].split(":")[0] in ("0", "root"):
        problems.append("the final stage must run as a non-root USER")
    entrypoints = [i.arguments for i in parsed if i.keyword == "ENTRYPOINT"]
    if not entrypoints or not entrypoints[-1].startswith("["):
        problems.append("ENTRYPOINT must be in exec form (signals reach the entrypoint)")
    return problems


@pytest.fixture(scope="module")
def text() -> str:
    return CONTAINERFILE.read_text(encoding="utf-8")


def test_containerfile_passes_the_static_lint(text: str) -> None:
    assert lint(text, REPO) == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            ("server/entrypoint", "server/entrypoint.sh"),
            "COPY server/entrypoint.sh: not in the build context",
        ),
        (("caddy:2.8.4", "caddy:latest"), "not pinned to a version tag"),
        (("--from=viewer", "--from=viewr"), "COPY --from=viewr: no such stage"),
        (("USER 65532:65532", "USER root"), "non-root USER"),
    ],
)
def test_the_lint_catches_what_a_build_would_trip_on(
    text: str, edit: tuple[str, str], expected: str
) -> None:
    old, new = edit
    assert old in text
    assert any(expected in problem for problem in lint(text.replace(old, new), REPO))


def test_mediamtx_is_pinned_by_version_and_digest(text: str) -> None:
    defaults = arg_defaults(instructions(text))
    version = defaults["MEDIAMTX_VERSION"]
    image = defaults["MEDIAMTX_IMAGE"]
    assert re.fullmatch(r"v\d+\.\d+\.\d+", version)
    assert f"mediamtx:{version.lstrip('v')}@sha256:" in image
    assert re.search(r"@sha256:[0-9a-f]{64}$", image)


def test_rules_dashboards_and_viewer_land_at_the_documented_paths(text: str) -> None:
    """The contract paths other components produce, and where docs/server.md says they are."""
    for source in (
        "/src/alerts/trashmonitor.rules.yaml",
        "/src/alerts/prometheusrule.yaml",
        "/src/dashboards/provisioning/dashboards.yaml",
        "/src/dashboards/generated/*.json",
    ):
        assert source in text
    assert "COPY --from=python-build /out/ /usr/share/trashmonitor/" in text
    assert "/usr/share/trashmonitor/viewer/" in text
    docs = (REPO / "docs" / "server.md").read_text(encoding="utf-8")
    for documented in (
        "/usr/share/trashmonitor/alerts/trashmonitor.rules.yaml",
        "/usr/share/trashmonitor/dashboards/generated/",
        "/usr/share/trashmonitor/viewer/",
        "/etc/trashmonitor/mediamtx.yml",
    ):
        assert documented in docs


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    ignored = IGNOREFILE.read_text(encoding="utf-8").split()
    for entry in (".env", ".venv", ".git", "server/viewer/node_modules"):
        assert entry in ignored
    # where docs/server.md ("Credentials") and compose keep secrets
    for entry in ("secrets", "server/secrets", "server/.env"):
        assert entry in ignored


def test_the_entrypoint_is_what_the_image_runs(text: str) -> None:
    assert 'ENTRYPOINT ["/usr/local/bin/trashmonitor-entrypoint"]' in text
    assert "COPY server/entrypoint /usr/local/bin/trashmonitor-entrypoint" in text
