"""`python -m trashmonitor.alerts.generate`: writes, and detects stale, generated files."""

from __future__ import annotations

from pathlib import Path

import pytest

from trashmonitor.alerts.generate import generated_files, main


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "rules.py").write_text("# marks a checkout\n")
    return tmp_path


def test_check_reports_missing_files_then_generate_writes_them(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(checkout), "--check"]) == 1
    assert "stale: alerts/trashmonitor.rules.yaml" in capsys.readouterr().err
    assert main(["--root", str(checkout)]) == 0
    for relative, text in generated_files().items():
        assert (checkout / relative).read_text() == text
    assert main(["--root", str(checkout), "--check"]) == 0


def test_check_notices_a_hand_edit(checkout: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["--root", str(checkout)])
    dashboard = checkout / "dashboards" / "generated" / "camera.json"
    dashboard.write_text(dashboard.read_text().replace("Camera", "Kamera"))
    assert main(["--root", str(checkout), "--check"]) == 1
    assert "dashboards/generated/camera.json" in capsys.readouterr().err


def test_a_root_that_is_not_a_checkout_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        f"generate: error: --root: {tmp_path} is not a trashmonitor checkout (no alerts/rules.py)\n"
    )
