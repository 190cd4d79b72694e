"""The Dagster UI shows the pipeline's lineage: a real webserver, driven by Debian chromium.

Run with `make browser` first (installs chromium; no Playwright browser download).
"""
from __future__ import annotations

import os
import re
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .dagster_server import DagsterWebserver, running_webserver

ROOT = Path(__file__).resolve().parents[2]
# Git-ignored, so CI can upload it as an artifact and a human can look at it.
OUTPUT_DIR = ROOT / "test-output" / "browser"
STAGE_GROUPS = ("datasets", "training", "evaluation", "registry")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1600, "height": 1000}
RENDER_TIMEOUT_MS = 20_000

LOCATION_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on PythonError { message }
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message }
          ... on RepositoryLocation {
            repositories {
              sensors { name }
              assetNodes {
                assetKey { path }
                groupName
                assetChecksOrError { __typename ... on AssetChecks { checks { name } } }
              }
            }
          }
        }
      }
    }
  }
}
"""


@pytest.fixture(scope="module")
def dagster_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dagster_home")


@pytest.fixture(scope="module")
def webserver(dagster_home: Path) -> Iterator[DagsterWebserver]:
    with running_webserver(ROOT, dagster_home) as server:
        yield server


@pytest.fixture(scope="module")
def audited_entry(dagster_home: Path, webserver: DagsterWebserver, tmp_path_factory) -> str:
    """A real registry whose entry was registered, promoted and approved twice, reported to the
    webserver's instance by registry_audit_sensor (as `dagster-daemon` would)."""
    import dagster as dg

    from assets.resources import RegistryResource
    from llmreg.registry.api import Registry
    from pipelines.audit import registry_audit_sensor

    url = f"sqlite:///{tmp_path_factory.mktemp('registry') / 'registry.db'}"
    with Registry.open(url) as reg:
        entry = reg.register({"name": "support-triage", "model": {"provider": "openai", "id": "gpt-5-mini-2026-06-01"},
                              "prompt_ref": "triage-prompt@v1", "params": {"max_tokens": 5}}, actor="alice")
        reg.record_eval("support-triage", entry.version,
                        {"run_id": "run-a", "passed": True, "accuracy": 0.95, "failed_checks": [],
                         "suite": {"name": "triage-eval", "version": "1.0.0", "threshold": 0.8}}, actor="alice")
        reg.promote("support-triage", entry.version, "staging", actor="system:promote-on-eval",
                    evidence={"eval_run": "run-a"})
        for approver in ("bob", "carol"):
            reg.approve("support-triage", entry.version, "production", actor=approver)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization("registry_entry", metadata={
            "entry": entry.ref}))
        with dg.build_sensor_context(instance=instance, resources={"registry": RegistryResource(url=url)}) as ctx:
            for event in registry_audit_sensor(ctx).asset_events:
                instance.report_runless_asset_event(event)
    return entry.ref


@pytest.fixture
def chromium() -> Path:
    """Debian's chromium; missing is a failure, not a skip, so CI cannot pass without the check."""
    path = Path(os.environ.get("LLMREG_CHROMIUM", "/usr/bin/chromium"))
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"chromium not found at {path} (LLMREG_CHROMIUM): run `make browser` "
                    "to install Debian's chromium", pytrace=False)
    return path


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.mark.slow
def test_location_loads_with_sensor_and_eval_checks(webserver: DagsterWebserver) -> None:
    workspace = webserver.graphql(LOCATION_QUERY)["workspaceOrError"]
    assert workspace["__typename"] == "Workspace", workspace
    entries = {e["name"]: e for e in workspace["locationEntries"]}
    assert set(entries) == {"llm_registry"}, entries
    entry = entries["llm_registry"]
    location = entry["locationOrLoadError"]
    assert entry["loadStatus"] == "LOADED", entry
    assert location["__typename"] == "RepositoryLocation", location.get("message")

    repos = location["repositories"]
    sensors = {s["name"] for repo in repos for s in repo["sensors"]}
    assert {"promote_on_eval_sensor", "registry_audit_sensor"} <= sensors
    nodes = {"/".join(n["assetKey"]["path"]): n for repo in repos for n in repo["assetNodes"]}
    # providers: the snapshot-partitioned evaluation, kept apart from the unpartitioned chain
    assert {n["groupName"] for n in nodes.values()} == set(STAGE_GROUPS) | {"providers"}
    assert nodes["registry_entry"]["groupName"] == "registry"
    # The eval quality gates sit on the evaluation report, where the UI shows them.
    checks = nodes["evaluation_report"]["assetChecksOrError"]
    assert checks["__typename"] == "AssetChecks", checks
    assert {c["name"] for c in checks["checks"]} >= {"suite_completed", "no_regression_vs_incumbent"}


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_global_lineage_page_shows_every_stage(chromium: Path, webserver: DagsterWebserver) -> None:
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail("playwright is not installed: `make install` (it is in the dev extra)", pytrace=False)

    # On localhost the UI opens a "join the community" dialog over the graph until told otherwise.
    assert webserver.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT_DIR / "asset_lineage.png"
    failed = OUTPUT_DIR / "asset_lineage_failure.png"
    for stale in (shot, failed):
        stale.unlink(missing_ok=True)

    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{webserver.url}/asset-groups", wait_until="domcontentloaded")
            expect(page).to_have_title("Global asset lineage", timeout=RENDER_TIMEOUT_MS)
            # The graph is SVG with HTML nodes in <foreignObject>; the sidebar tree is not in it.
            graph = page.locator("svg foreignObject")
            try:
                for group in STAGE_GROUPS:
                    expect(graph.get_by_text(group, exact=True).first).to_be_visible(timeout=RENDER_TIMEOUT_MS)
                entry = graph.get_by_text("registry_entry", exact=True)
                if entry.count() == 0:
                    # A fresh profile shows groups collapsed; ⌥E is the graph's "Expand all groups".
                    page.keyboard.press("Alt+KeyE")
                expect(entry).to_be_visible(timeout=RENDER_TIMEOUT_MS)
                expect(entry).to_be_in_viewport(timeout=RENDER_TIMEOUT_MS)
                for upstream in ("support_tickets", "lora_adapter", "evaluation_report"):
                    expect(graph.get_by_text(upstream, exact=True)).to_be_visible()
            except AssertionError as exc:
                page.screenshot(path=str(failed), full_page=True)
                raise AssertionError(f"lineage graph incomplete; screenshot {failed}, "
                                     f"server log {webserver.log_path}") from exc
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    render_seconds = time.monotonic() - started

    assert shot.is_file(), f"no screenshot at {shot}"
    # Measured (Dagster 1.13.27, chromium 156): an error/404 page 52 KB, the graph before its
    # nodes load 95 KB, the expanded graph 166 KB. The DOM checks above carry the real weight.
    assert shot.stat().st_size > 100_000, f"{shot} is only {shot.stat().st_size} bytes"
    assert _png_size(shot)[0] == VIEWPORT["width"]
    assert render_seconds < 45, f"page took {render_seconds:.1f}s to render"


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_registry_entry_timeline_shows_promotion_and_approvals(chromium: Path, webserver: DagsterWebserver,
                                                               audited_entry: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    assert webserver.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT_DIR / "registry_entry_timeline.png"
    for stale in (shot, OUTPUT_DIR / "registry_entry_promotion.png", OUTPUT_DIR / "registry_entry_timeline_failure.png"):
        stale.unlink(missing_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{webserver.url}/assets/registry_entry?view=events", wait_until="domcontentloaded")
            # The events list shows one row per event (its time); the selected one's description
            # ("#5 stage.promoted support-triage@1.0.0 by ... (staging)") and metadata beside it.
            rows = page.get_by_text(re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{1,2}:\d{2} [AP]M$"))
            described = page.get_by_text(re.compile(r"^#\d+ [a-z_]+\.[a-z_]+ "))
            seen: list[str] = []
            try:
                expect(rows.first).to_be_visible(timeout=RENDER_TIMEOUT_MS)
                for i in range(rows.count()):
                    rows.nth(i).click()
                    try:
                        expect(described.first).to_be_visible(timeout=5_000)
                    except AssertionError:
                        continue  # the registration's materialization: metadata, no event description
                    seen.append(described.first.inner_text())
                    if "stage.promoted" in seen[-1]:
                        page.screenshot(path=str(OUTPUT_DIR / "registry_entry_promotion.png"), full_page=True)
                assert any("stage.promoted" in d and "(staging)" in d for d in seen), seen
                approvals = [d for d in seen if "approval.granted" in d]
                assert any("by bob" in d for d in approvals) and any("by carol" in d for d in approvals), seen
            except AssertionError as exc:
                page.screenshot(path=str(OUTPUT_DIR / "registry_entry_timeline_failure.png"), full_page=True)
                raise AssertionError(f"timeline incomplete ({seen}); server log {webserver.log_path}") from exc
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.is_file() and _png_size(shot)[0] == VIEWPORT["width"]
