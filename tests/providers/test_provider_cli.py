"""`llmreg providers`: the change-log table, --json, discover and qualify, exit codes."""
from __future__ import annotations

import json

from llmreg.cli import main
from providers.conftest import pin_production, write_providers


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_discover_qualify_and_list(capsys, tmp_path, project, stub, registry):
    store = f"sqlite:///{tmp_path / 'registry.db'}"
    config = str(write_providers(project, stub.base_url))
    pin_production(registry, "triage-2026-05-01")
    code, out, _ = run(capsys, "providers", "discover", "--config", config, "--store", store, "--actor", "ci")
    assert code == 0 and "3 new" in out and "+ stub/triage-2026-06-01" in out
    assert "alias, not recorded: triage-latest" in out

    code, out, err = run(capsys, "providers", "qualify", "stub/triage-2026-06-01", "--config", config,
                         "--root", str(project), "--store", store, "--actor", "ci")
    assert code == 0 and "qualified" in out and "drafted support-triage-hosted@2.0.0" in out
    code, out, _ = run(capsys, "providers", "qualify", "stub/triage-2026-07-01", "--config", config,
                       "--root", str(project), "--store", store, "--actor", "ci", "--json")
    assert code == 1 and json.loads(out)["status"] == "rejected"

    code, out, _ = run(capsys, "providers", "--store", store)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["PROVIDER", "FAMILY", "SNAPSHOT", "FIRST", "SEEN", "(UTC)", "STATUS",
                                               "SCORE", "SHUTDOWN"]
    rows = {line.split()[2]: line.split() for line in lines[1:]}
    assert rows["triage-2026-05-01"][-3:] == ["seen", "-", "2026-12-31"]
    assert rows["triage-2026-06-01"][-3:] == ["qualified", "1.000", "-"]
    assert rows["triage-2026-07-01"][-3:] == ["rejected", "0.200", "-"]

    code, out, _ = run(capsys, "providers", "--store", store, "--json", "--family", "triage")
    data = json.loads(out)
    assert [s["snapshot"] for s in data["snapshots"]] == ["triage-2026-05-01", "triage-2026-06-01", "triage-2026-07-01"]
    assert data["snapshots"][1]["drafts"] == ["support-triage-hosted@2.0.0"]


def test_a_failing_provider_exits_1_and_shows_under_the_table(capsys, tmp_path, project, stub):
    store = f"sqlite:///{tmp_path / 'registry.db'}"
    config = str(write_providers(project, stub.base_url, max_retries=0))
    stub.queue_get_faults("malformed")
    code, out, _ = run(capsys, "providers", "discover", "--config", config, "--store", store, "--actor", "ci")
    assert code == 1 and "FAILED (recorded)" in out and "malformed JSON" in out
    code, out, _ = run(capsys, "providers", "--store", store)
    assert "no provider snapshots recorded yet" in out and "! stub: model list failing since" in out


def test_bad_config_and_aliases_are_bad_input(capsys, tmp_path, project):
    store = f"sqlite:///{tmp_path / 'registry.db'}"
    bad = project / "bad.yaml"
    bad.write_text("providers: []\n")
    code, _, err = run(capsys, "providers", "discover", "--config", str(bad), "--store", store, "--actor", "ci")
    assert code == 2 and "bad.yaml: providers: list should have at least 1 item, not 0" in err and len(err.strip().splitlines()) == 1
    config = str(write_providers(project, "http://127.0.0.1:9/v1"))
    code, _, err = run(capsys, "providers", "qualify", "stub/triage-latest", "--config", config, "--store", store,
                       "--actor", "ci")
    assert code == 2 and "floating alias" in err
