"""Every YAML file the server bundle owns passes yamllint (syntax, duplicate keys, indentation)."""

from __future__ import annotations

import subprocess

from support.processes import REPO, require_binary

CONFIG = "{extends: default, rules: {line-length: {max: 130}, document-start: disable, truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}, indentation: {indent-sequences: whatever}}}"  # noqa: E501


def test_server_yaml_passes_yamllint() -> None:
    files = sorted(
        str(path)
        for pattern in ("*.yaml", "*.yml")
        for path in (REPO / "server").rglob(pattern)
        # generated/ holds copies of other components' output; they lint their own.
        if "node_modules" not in path.parts and "generated" not in path.parts
    )
    assert len(files) >= 10
    result = subprocess.run(
        [require_binary("yamllint"), "--strict", "-f", "parsable", "-d", CONFIG, *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout
