"""The generated Grafana dashboards: reproducible, well-formed, valid PromQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from support.processes import REPO, require_binary

from trashmonitor.alerts.promtool import check_expressions, grafana_to_promql
from trashmonitor.dashboards.build import DASHBOARDS, rendered_dashboards
from trashmonitor.dashboards.inspect import iter_panels, panel_expressions

GENERATED = REPO / "dashboards" / "generated"
PROVISIONING = REPO / "dashboards" / "provisioning" / "dashboards.yaml"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _committed() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(GENERATED.glob("*.json"))}


def _all_panels() -> list[tuple[str, dict[str, Any]]]:
    return [
        (stem, panel)
        for stem, document in _committed().items()
        for panel in iter_panels(document)
        if panel["type"] != "row"
    ]


def test_regenerating_reproduces_the_committed_json_byte_for_byte() -> None:
    rendered = rendered_dashboards()
    assert sorted(rendered) == sorted(path.name for path in GENERATED.glob("*.json"))
    for name, text in rendered.items():
        assert (GENERATED / name).read_text(encoding="utf-8") == text, (
            f"dashboards/generated/{name} is stale: run `just generate`"
        )


def test_rendering_twice_is_identical() -> None:
    assert rendered_dashboards() == rendered_dashboards()


def test_dashboards_have_unique_uids_titles_and_the_pinned_schema() -> None:
    documents = _committed().values()
    uids = [document["uid"] for document in documents]
    assert len(uids) == len(set(uids)) == len(DASHBOARDS)
    for document in documents:
        assert document["uid"].startswith("trashmon-")
        assert document["title"].startswith("trashmonitor / ")
        assert document["schemaVersion"] == 42  # what grafana-foundation-sdk 0.0.21 emits
        assert "trashmonitor" in document["tags"]
        assert document["time"] == {"from": "now-6h", "to": "now"}
        (annotation,) = document["annotations"]["list"]
        assert annotation["builtIn"] == 1


def test_datasource_is_a_variable_used_by_every_panel_and_target() -> None:
    for stem, document in _committed().items():
        variables = {v["name"]: v for v in document["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", stem
        assert variables["datasource"]["query"] == "prometheus", stem
    for stem, panel in _all_panels():
        assert panel["datasource"] == DATASOURCE, (stem, panel["title"])
        assert panel["targets"], (stem, panel["title"])
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, (stem, panel["title"])


def test_camera_dashboards_have_a_camera_variable_that_panels_use() -> None:
    for stem in ("overview", "camera"):
        document = _committed()[stem]
        camera = next(v for v in document["templating"]["list"] if v["name"] == "camera")
        assert camera["type"] == "query"
        assert camera["datasource"] == DATASOURCE
        assert camera["query"].startswith("label_values(trashmon_camera_state")
        assert camera["includeAll"] is True
        assert camera["allValue"] == ".*"
        uses = [expr for _, expr in panel_expressions(document) if "$camera" in expr]
        assert len(uses) >= 4, stem


def test_every_panel_has_a_unit_title_and_description() -> None:
    for stem, panel in _all_panels():
        unit = panel["fieldConfig"]["defaults"].get("unit")
        assert unit, f"{stem}: panel {panel['title']!r} has no unit"
        assert panel["title"]
        assert panel.get("description"), (stem, panel["title"])


def test_targets_have_unique_ref_ids_and_an_expression() -> None:
    for stem, panel in _all_panels():
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), (stem, panel["title"])
        for target in panel["targets"]:
            assert target["expr"].strip(), (stem, panel["title"])


def test_panel_ids_are_unique_and_the_grid_has_no_overlaps() -> None:
    for stem, document in _committed().items():
        panels = list(iter_panels(document))
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), stem
        occupied: set[tuple[int, int]] = set()
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] >= 0, (stem, panel["title"])
            assert grid["x"] + grid["w"] <= 24, (stem, panel["title"])
            cells = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & occupied, f"{stem}: {panel['title']!r} overlaps another panel"
            occupied |= cells


@pytest.mark.parametrize(
    ("stem", "titles"),
    [
        (
            "overview",
            {"Cameras by state", "Active reasons", "Time since last frame",
             "Ingest bitrate per path", "Readers"},
        ),
        (
            "camera",
            {"Frames per second vs target", "Encoding speed", "Dropped and duplicated frames",
             "ffmpeg restarts", "Black and frozen picture", "Device present", "Device",
             "Agent online (MQTT)", "RTP packet loss", "Frames in error",
             # issue 16: connection quality, availability and incidents
             "Connection quality", "Reconnects and stalls (last hour)", "Availability",
             "Incidents"},
        ),
        ("monitor", {"Poll duration", "Poll errors", "MediaMTX reachable"}),
        ("dns", {"In sync", "Time since last successful reconcile", "Errors"}),
    ],
)  # fmt: skip
def test_each_dashboard_has_the_panels_issues_6_and_16_ask_for(stem: str, titles: set[str]) -> None:
    present = {panel["title"] for panel in iter_panels(_committed()[stem])}
    assert titles <= present, titles - present


def test_every_panel_expression_is_valid_promql() -> None:
    require_binary("promtool")
    expressions = [expr for d in _committed().values() for _, expr in panel_expressions(d)]
    assert len(expressions) > 30
    result = check_expressions(expressions)
    assert result.ok, result.output
    assert f"SUCCESS: {len(expressions)} rules found" in result.output


def test_the_promql_check_rejects_a_broken_panel_expression() -> None:
    require_binary("promtool")
    result = check_expressions(['sum by (camera) (rate(trashcam_fps{camera=~"$camera"}[5m])'])
    assert not result.ok


def test_grafana_variables_are_replaced_for_promtool() -> None:
    expr = 'rate(x{camera=~"$camera",ds="${datasource}"}[$__rate_interval])'
    assert grafana_to_promql(expr) == 'rate(x{camera=~".*",ds=".*"}[5m])'


def test_provisioning_points_grafana_at_a_dashboards_folder() -> None:
    document = yaml.safe_load(PROVISIONING.read_text())
    assert document["apiVersion"] == 1
    (provider,) = document["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].startswith("/")
    assert provider["folder"] == "trashmonitor"


def test_links_lead_to_dashboards_that_exist() -> None:
    documents = _committed()
    uids = {document["uid"] for document in documents.values()}
    for stem, document in documents.items():
        (link,) = document["links"]
        assert link["type"] == "dashboards"
        assert link["tags"] == ["trashmonitor"], stem
    drilldowns = [
        link["url"]
        for _, panel in _all_panels()
        for link in panel["fieldConfig"]["defaults"].get("links", [])
    ]
    assert len(drilldowns) >= 3
    for url in drilldowns:
        assert url.split("/")[2] in uids, url
        assert "var-camera=${__field.labels.camera}" in url


def test_camera_dashboards_filter_every_monitor_camera_query_by_site() -> None:
    """Issue 17: a ``site`` variable (all by default) narrows every per-camera query of
    the monitor's series; the agents' own ``trashcam_*`` series have no site."""
    for stem in ("overview", "camera"):
        document = _committed()[stem]
        variables = [v["name"] for v in document["templating"]["list"]]
        assert variables.index("site") < variables.index("camera"), stem
        site = document["templating"]["list"][variables.index("site")]
        assert site["query"].startswith("label_values(trashmon_camera_state")
        assert site["query"].endswith(", site)")
        assert (site["includeAll"], site["allValue"], site["multi"]) == (True, ".*", True)
        camera = document["templating"]["list"][variables.index("camera")]
        assert 'site=~"$site"' in camera["query"]
        per_camera = [expr for _, expr in panel_expressions(document) if "$camera" in expr]
        assert per_camera, stem
        for expr in per_camera:
            if "trashcam_" not in expr:
                assert 'site=~"$site"' in expr, (stem, expr)


def _monitor_series_summed_without_max(expr: str) -> bool:
    """A ``sum`` over the monitor's series that does not first take the ``max`` across
    replicas (each replica exports the same judgement: a sum counts it once per replica)."""
    summed = expr.split("sum")[1:]
    return any("trashmon_" in inside and "max by (site" not in inside for inside in summed)


def test_camera_dashboards_take_the_max_across_replicas_before_summing() -> None:
    """Issue 17 §2: with two monitor replicas, "Cameras by state" showed every camera
    twice (``sum by (state) (trashmon_cameras)``)."""
    for stem in ("overview", "camera"):
        for title, expr in panel_expressions(_committed()[stem]):
            assert not _monitor_series_summed_without_max(expr), (stem, title, expr)
    (cameras_by_state,) = [
        expr for title, expr in panel_expressions(_committed()["overview"])
        if title == "Cameras by state"
    ]  # fmt: skip
    assert cameras_by_state.startswith("sum by (state) (max by (site, state) (trashmon_cameras{")


def test_the_replica_check_flags_a_plain_sum() -> None:
    assert _monitor_series_summed_without_max('sum by (state) (trashmon_cameras{site=~"$site"})')
    assert not _monitor_series_summed_without_max("sum by (camera) (rate(trashcam_x[5m]))")
    assert not _monitor_series_summed_without_max("max by (site, camera) (trashmon_x)")


def test_camera_legends_name_the_site_and_drilldowns_carry_it() -> None:
    """Issue 17 §1: with Site at All, cam1 at two sites must be two told-apart lines, and a
    click on either opens that site's cam1, not both."""
    for stem in ("overview", "camera"):
        for panel in iter_panels(_committed()[stem]):
            for target in panel.get("targets", []):
                legend = target.get("legendFormat", "")
                if "{{camera}}" in legend and "trashcam_" not in target["expr"]:
                    assert "{{site}}" in legend, (stem, panel["title"], legend)
    drilldowns = [
        link["url"]
        for _, panel in _all_panels()
        for link in panel["fieldConfig"]["defaults"].get("links", [])
        if "-camera/" in link["url"]
    ]
    assert drilldowns
    for url in drilldowns:
        assert "var-site=${__field.labels.site}" in url, url


def test_the_dashboard_docs_list_the_site_variable() -> None:
    text = (REPO / "docs" / "observability.md").read_text(encoding="utf-8")
    for uid in ("trashmon-overview", "trashmon-camera"):
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{uid}` |")]
        assert "**Site** variable" in row, uid
