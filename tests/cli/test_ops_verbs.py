"""`llmreg gc`, `retention`, `drill` and `rollback --drill` as users run them (a subprocess each),
on a local open-weights model whose config the drill's backend dry run really loads."""
from __future__ import annotations

import json

import pytest

from cli.test_cli import Cli
from llmreg.registry.api import Registry
from llmreg.registry.artifacts import hash_path

NAME = "triage-local"
LLAMA = {"model_type": "llama", "hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
         "intermediate_size": 32, "vocab_size": 100}


def _release(reg: Registry, root, n: int) -> str:
    adapter = root / f"adapter-{n}"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8, "note": n}))
    sha, size = hash_path(adapter)
    base_sha, _ = hash_path(root / "base")
    entry = reg.register({
        "name": NAME, "model": {"provider": "local", "id": "tiny-base", "uri": str(root / "base"), "sha256": base_sha},
        "artifacts": [{"name": "adapter", "uri": str(adapter), "sha256": sha, "size": size, "kind": "adapter"}],
        "eval": {"suite": "triage-eval", "score": 0.95, "run": f"run-{n}", "segments": {"eu": 0.95, "us": 0.95}},
    }, actor="alice")
    version = entry.version
    reg.promote(NAME, version, "staging", actor="ci")
    reg.review(NAME, version, actor="bob")
    reg.promote(NAME, version, "canary", actor="ci")
    reg.record_evidence(NAME, version, "default", "canary_slo", {"error_rate": 0.001, "p99_ms": 300, "calls": 500, "instance": "gw-test", "window": {"start": "2026-06-10T09:00:00Z", "end": "2026-06-10T10:00:00Z"}},
                        actor="system:slo-guard")
    reg.approve(NAME, version, actor="bob")
    reg.approve(NAME, version, actor="carol")
    reg.promote(NAME, version, "production", actor="ci")
    return version


def _head(cli: Cli) -> int:
    with Registry.open(cli.env["LLMREG_STORE"], artifacts=cli.env["LLMREG_ARTIFACTS"]) as reg:
        return reg.head_seq()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def released(request, tmp_path):
    """Two releases in production, on a SQLite file or a PostgreSQL schema the CLI opens too."""
    from contract.backends import make_backend

    cli = Cli(tmp_path)
    if request.param == "postgresql":
        backend = make_backend("postgresql", tmp_path / "pg")
        request.addfinalizer(backend.drop)
        cli.env["LLMREG_STORE"] = backend.url
    cli.env["LLMREG_ARTIFACTS"] = str(tmp_path / "artifacts")
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "config.json").write_text(json.dumps(LLAMA))
    (tmp_path / ".llmreg").mkdir()
    with Registry.open(cli.env["LLMREG_STORE"], artifacts=cli.env["LLMREG_ARTIFACTS"]) as reg:
        reg.configure_gates({"eval_threshold": 0.9}, actor="admin")
        versions = [_release(reg, tmp_path, n) for n in (1, 2)]
    return cli, versions


def test_rollback_drill_loads_the_target_config_and_moves_nothing(released):
    cli, (v1, v2) = released
    events = _head(cli)
    out = cli("rollback", NAME, "--drill", actor="ops", as_json=True).data
    (result,) = out
    assert (result["ok"], result["current"], result["target"]) == (True, v2, v1)
    load = {c["name"]: c for c in result["checks"]}["backend_load"]
    assert "LlamaConfig (llama)" in load["detail"] and "adapter config LORA r=8" in load["detail"]
    assert _head(cli) == events + 1
    assert cli("resolve", NAME, as_json=True).data["version"] == v2
    assert f"rollback drill {v2} -> {v1}: ok" in cli("audit", "log", "--type", "rollback.drill").stdout
    assert "## Rollback drills" in cli("card", f"{NAME}@{v1}").stdout
    cli("rollback", NAME, "--drill", "--to", v1, actor="ops", code=2)


def test_a_tampered_target_fails_the_drill_with_exit_1(released, tmp_path):
    cli, (v1, _) = released
    with Registry.open(cli.env["LLMREG_STORE"], artifacts=cli.env["LLMREG_ARTIFACTS"]) as reg:
        stored = reg.artifacts.object_path(reg.get(NAME, v1).spec.artifacts[0].sha256)
    (tmp_path / "adapter-1" / "adapter_config.json").write_text("{}")  # the uri copy changes
    import os
    import stat
    os.chmod(stored, stat.S_IRWXU)
    with open(os.path.join(stored, "adapter_config.json"), "w") as handle:  # and the stored copy
        handle.write("{}")
    done = cli("drill", NAME, actor="ops", code=1)
    assert "FAILED" in done.stdout and "artifacts:" in done.stdout and "expected sha256" in done.stdout


def test_gc_dry_run_then_gc_then_the_rollback_is_refused(released):
    cli, (v1, v2) = released
    cli.write("retention.yaml", "default: {keep_production_days: 0, keep_last_production: 1, keep_recent_days: 0}\n")
    cli("retention", "set", "retention.yaml", actor="admin")
    assert cli("retention", "show", as_json=True).data["default"]["keep_last_production"] == 1
    events = _head(cli)
    dry = cli("gc", "--dry-run", as_json=True).data  # no actor needed: it writes nothing
    assert dry["dry_run"] and dry["names"][0]["removed_versions"] == [v1] and _head(cli) == events
    assert f"would remove {v1} (1 stored copies)" in cli("gc", "--dry-run").stdout

    done = cli("gc", actor="ops", as_json=True).data
    (event,) = done["events"]
    assert event["type"] == "artifacts.collected" and event["payload"]["removed_versions"] == [v1]
    assert len(event["payload"]["removed_digests"]) == 1  # the adapter; the shared base model stays
    assert event["payload"]["shared_digests"]
    assert f"gc removed the stored copies of {v1}" in cli("audit", "log", "--type", "artifacts.collected").stdout
    refused = cli("rollback", NAME, actor="ops", code=1)
    assert "removed by gc under the retention policy" in refused.stderr and "retention default" in refused.stderr
    assert "FAILED" in cli("drill", "--all", actor="ops", code=1).stdout
    assert "nothing to collect; nothing written" in cli("gc", actor="ops").stdout
    assert "audit ok" in cli("audit", "verify").stdout


def test_bad_retention_file_is_one_line_exit_2(released):
    cli, _ = released
    cli.write("bad.yaml", "default: {keep_last_production: -1}\n")
    done = cli("retention", "set", "bad.yaml", actor="admin", code=2)
    assert "keep_last_production" in done.stderr
    cli("drill", actor="ops", code=2)  # no name, no --all
