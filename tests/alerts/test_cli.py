"""`trashmon rules` as a real subprocess, reading the installed package's data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.docs import generated_table
from support.processes import REPO, run_trashmon

from trashmonitor.alerts.cli import DASHBOARD_NAMES, RULE_FILES, SETTINGS

# run_trashmon uses -P (and cwd is tmp as well): the repository's own folders must not
# shadow the installed package, so these tests see exactly what `pip install` provides.


@pytest.mark.parametrize("fmt", sorted(RULE_FILES))
def test_prints_each_rule_file(fmt: str, tmp_path: Path) -> None:
    result = run_trashmon("rules", "--format", fmt, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (REPO / "alerts" / RULE_FILES[fmt]).read_text()


def test_default_is_the_plain_prometheus_rule_file(tmp_path: Path) -> None:
    result = run_trashmon("rules", cwd=tmp_path)
    assert "groups" in yaml.safe_load(result.stdout)


@pytest.mark.parametrize("name", DASHBOARD_NAMES)
def test_prints_each_dashboard(name: str, tmp_path: Path) -> None:
    result = run_trashmon("rules", "--dashboard", name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["uid"] == f"trashmon-{name}"
    assert result.stdout == (REPO / "dashboards" / "generated" / f"{name}.json").read_text()


def test_output_writes_everything_for_prometheus_and_grafana(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_trashmon("rules", "--output", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == sorted(
        [
            "trashmonitor.rules.yaml",
            "prometheusrule.yaml",
            "central.rules.yaml",
            "central-prometheusrule.yaml",
            "alertmanager.yml",
            "alertmanager.email.example.yml",
            "alertmanager.ntfy.example.yml",
            "alertmanagerconfig.yaml",
            "provisioning/dashboards.yaml",
            *(f"dashboards/{name}.json" for name in DASHBOARD_NAMES),
        ]
    )
    assert (out / "trashmonitor.rules.yaml").read_text() == (
        REPO / "alerts" / "trashmonitor.rules.yaml"
    ).read_text()
    assert sorted(result.stdout.splitlines()) == sorted(str(out / name) for name in written)


def test_output_onto_a_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    result = run_trashmon("rules", "--output", str(target), cwd=tmp_path)
    assert result.returncode == 2
    assert (
        result.stderr
        == f"trashmon rules: error: --output: {target} exists and is not a directory\n"
    )
    assert target.read_text() == "x"


def test_debug_shows_why_a_file_could_not_be_written(tmp_path: Path) -> None:
    # The error is raised from its cause (issue 13): --debug shows the OSError behind it.
    out = tmp_path / "out"
    out.mkdir()
    (out / "dashboards").write_text("x")  # where the dashboards' folder would go
    plain = run_trashmon("rules", "--output", str(out), cwd=tmp_path)
    debug = run_trashmon("rules", "--output", str(out), "--debug", cwd=tmp_path)
    assert plain.returncode == debug.returncode == 2
    assert plain.stderr.count("\n") == 1
    assert plain.stderr.startswith("trashmon rules: error: --output: cannot write ")
    assert "direct cause of the following exception" in debug.stderr
    assert "FileExistsError" in debug.stderr
    assert debug.stderr.endswith(plain.stderr)


def test_unknown_dashboard_is_a_usage_error(tmp_path: Path) -> None:
    result = run_trashmon("rules", "--dashboard", "nope", cwd=tmp_path)
    assert result.returncode == 2
    # One line naming the flag (the declared table's parser), no longer argparse's usage.
    assert result.stderr == (
        "trashmon rules: error: --dashboard: expected one of overview, camera, monitor, dns, "
        "got 'nope'\n"
    )


def test_help_lists_the_rules_command(tmp_path: Path) -> None:
    result = run_trashmon("--help", cwd=tmp_path)
    assert "rules" in result.stdout
    assert "Prometheus rules and Grafana dashboards" in " ".join(result.stdout.split())


def _python(code: str, cwd: Path) -> str:
    """What ``code`` prints, run by the venv's interpreter in ``cwd`` (-P: the installed
    package, not a folder of the checkout)."""
    done = subprocess.run(
        [sys.executable, "-P", "-c", code], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_data_comes_from_the_installed_package_not_the_source_folders(tmp_path: Path) -> None:
    """package-data in pyproject.toml ships the generated files with the package."""
    code = (
        "from importlib import resources;"
        "a = resources.files('trashmonitor.alerts');"
        "d = resources.files('trashmonitor.dashboards');"
        "print(a / 'trashmonitor.rules.yaml');"
        "print(d / 'generated' / 'camera.json');"
        "print(d / 'provisioning' / 'dashboards.yaml');"
        "print((a / 'tests').is_dir())"
    )
    *paths, tests_shipped = _python(code, tmp_path).split("\n")[:4]
    for path_text in paths:
        path = Path(path_text)
        assert path.is_file(), path
        assert not path.is_relative_to(REPO / "alerts"), path
        assert not path.is_relative_to(REPO / "dashboards"), path
    assert tests_shipped == "False"  # promtool unit tests are not package data


def test_runtime_needs_no_generation_dependencies(tmp_path: Path) -> None:
    """PyYAML and grafana-foundation-sdk are dev-only: `trashmon rules` must not import them."""
    code = (
        "import sys;"
        "sys.argv = ['trashmon', 'rules', '--output', 'out'];"
        "from trashmonitor.cli import main;"
        "code = main();"
        "print(code, sorted(m for m in sys.modules if m.split('.')[0] in "
        "('yaml', 'grafana_foundation_sdk')))"
    )
    assert _python(code, tmp_path).splitlines()[-1] == "0 []"


def test_the_docs_table_is_the_declared_table() -> None:
    assert generated_table("docs/observability.md", "rules") == SETTINGS.markdown(meaning=True), (
        "docs/observability.md is out of date: paste `python -P -m trashmonitor.alerts.cli`"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--format", "yaml"), "--format: expected one of operator, prometheus, got 'yaml'"),
        (("--format", "operator", "--dashboard", "camera"), "not allowed with argument"),
    ],
)
def test_a_bad_choice_is_a_usage_error_that_writes_nothing(
    args: tuple[str, ...], message: str, tmp_path: Path
) -> None:
    result = run_trashmon("rules", *args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())


def test_an_empty_output_prints_the_rule_file_as_before(tmp_path: Path) -> None:
    result = run_trashmon("rules", "--output", "", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (REPO / "alerts" / "trashmonitor.rules.yaml").read_text()
    assert not list(tmp_path.iterdir())
