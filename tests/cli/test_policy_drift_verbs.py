"""`llmreg policy set|show` and `llmreg drift set|show|check` as users run them (a subprocess
each), on SQLite and PostgreSQL; drift reads real gateway_calls rows in the registry's database."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cli.test_cli import Cli
from llmreg.registry.api import Registry

NAME = "triage"
SPEC = {"name": NAME, "model": "gpt-5-mini-2026-06-01",
        "eval": {"suite": "s", "score": 0.95, "run": "r", "segments": {"eu": 0.95, "us": 0.95}}}


def _open(cli: Cli) -> Registry:
    return Registry.open(cli.env["LLMREG_STORE"], artifacts=cli.env["LLMREG_ARTIFACTS"])


def _to_canary(reg: Registry) -> str:
    version = reg.register(SPEC, actor="alice").version
    reg.promote(NAME, version, "staging", actor="ci")
    reg.review(NAME, version, actor="bob")
    reg.promote(NAME, version, "canary", actor="ci")
    reg.record_evidence(NAME, version, "default", "canary_slo", {"error_rate": 0.0, "p99_ms": 100, "calls": 500,
                                                                   "instance": "gw-test", "window": {
                                                                       "start": "2026-06-10T09:00:00Z",
                                                                       "end": "2026-06-10T10:00:00Z"}},
                        actor="system:slo-guard")
    return version


def _calls(reg: Registry, version: str, n: int, failing: int) -> None:
    """What the gateway's call log holds after n calls, `failing` of them 500s, in the last minutes."""
    from llmreg.registry.store.schema import gateway_calls
    from llmreg.serving.call_log import make_engine

    now = datetime.now(timezone.utc)
    rows = [{"request_id": f"r{i}", "time": (now - timedelta(seconds=30 + i)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
             "endpoint": "/v1/chat/completions", "name": NAME, "version": version, "env": "default",
             "stage": "production", "variant": "production", "status": 500 if i < failing else 200,
             "latency_ms": 120.0 + i} for i in range(n)]
    engine = make_engine(reg.store.url)
    try:
        with engine.begin() as conn:
            conn.execute(gateway_calls.insert(), rows)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cli(request, tmp_path):
    from contract.backends import make_backend

    cli = Cli(tmp_path)
    if request.param == "postgresql":
        backend = make_backend("postgresql", tmp_path / "pg")
        request.addfinalizer(backend.drop)
        cli.env["LLMREG_STORE"] = backend.url
    cli.env["LLMREG_ARTIFACTS"] = str(tmp_path / "artifacts")
    (tmp_path / ".llmreg").mkdir()
    with _open(cli) as reg:
        reg.configure_gates({"eval_threshold": 0.9}, actor="admin")
        reg.keys.key_for("system:drift-monitor")  # the service's key in the test keyring, as ops would install it
    return cli


def test_policy_set_show_and_the_refusal_and_card_state_it(cli):
    cli.write("policy.yaml", f"names:\n  {NAME}:\n    required: 3\n")
    cli("policy", "set", "policy.yaml", actor="admin")
    shown = cli("policy", "show", NAME, as_json=True).data
    assert shown["rule"]["required"] == 3 and shown["source"] == f"approval policy for {NAME}"
    assert "default: 2 approvals from distinct keys, the author excluded" in cli("policy", "show").stdout
    with _open(cli) as reg:
        version = _to_canary(reg)
    cli("approve", f"{NAME}@{version}", "--to", "production", actor="bob")
    cli("approve", f"{NAME}@{version}", "--to", "production", actor="carol")
    refused = cli("promote", f"{NAME}@{version}", "--to", "production", actor="ci", code=1)
    assert "2 of 3 distinct approvals for production (have: bob, carol)" in refused.stderr
    assert f"(policy: approval policy for {NAME}: 3 approvals from distinct keys, the author excluded)" in refused.stderr
    own = cli("approve", f"{NAME}@{version}", "--to", "production", actor="alice", code=1)
    assert "policy: approval policy for" in own.stderr
    cli("approve", f"{NAME}@{version}", "--to", "production", actor="dana")
    cli("promote", f"{NAME}@{version}", "--to", "production", actor="ci")
    card = cli("card", f"{NAME}@{version}").stdout
    assert f"Production approval policy in force: approval policy for {NAME}: 3 approvals" in card
    assert "configured approvals" in cli("audit", "log", "--type", "config.approvals").stdout
    assert "audit ok" in cli("audit", "verify").stdout


def test_a_bad_policy_file_is_one_line_exit_2_and_writes_nothing(cli):
    with _open(cli) as reg:
        head = reg.head_seq()
    cli.write("bad.yaml", f"names:\n  {NAME}:\n    required: 1\n")
    bad = cli("policy", "set", "bad.yaml", actor="admin", code=2)
    assert "bad.yaml" in bad.stderr and "required" in bad.stderr
    cli.write("typo.yaml", "default:\n  requird: 3\n")
    assert "requird" in cli("policy", "set", "typo.yaml", actor="admin", code=2).stderr
    with _open(cli) as reg:
        assert reg.head_seq() == head


def test_drift_check_flags_a_version_whose_error_rate_breaks_the_rule(cli):
    cli.write("drift.yaml", f"names:\n  {NAME}:\n    max_error_rate: 0.05\n    min_calls: 20\n    window_minutes: 30\n")
    cli("drift", "set", "drift.yaml", actor="admin")
    assert cli("drift", "show", as_json=True).data["names"][NAME]["max_error_rate"] == 0.05
    with _open(cli) as reg:
        version = _to_canary(reg)
        reg.approve(NAME, version, actor="bob")
        reg.approve(NAME, version, actor="carol")
        reg.promote(NAME, version, "production", actor="ci")
        _calls(reg, version, 40, failing=1)  # 2.5 %: within the rule
    ok = cli("drift", "check", as_json=True).data  # no --actor: the service identity
    assert ok["checked"] == 1 and ok["flagged"] == 0 and ok["events"] == []
    assert "error rate 0.025 over 40 calls (max 0.05)" in ok["findings"][0]["checked"]
    with _open(cli) as reg:
        _calls(reg, version, 40, failing=10)  # now 11 of 80: 13.75 %
    flagged = cli("drift", "check", code=1)
    assert "1 of 1 production version(s) flagged" in flagged.stderr and "error rate 0.1375" in flagged.stderr
    log = cli("audit", "log", "--type", "version.flagged", as_json=True).data
    events = log["events"] if isinstance(log, dict) else log
    (event,) = events
    assert event["actor"] == "system:drift-monitor" and event["signer"] and event["version"] == version
    assert "drift flag, action flag: error rate 0.1375 over 80 calls (max 0.05)" in cli(
        "audit", "log", "--type", "version.flagged").stdout
    assert cli("resolve", NAME, as_json=True).data["version"] == version  # a flag moves nothing
    assert "audit ok" in cli("audit", "verify").stdout
