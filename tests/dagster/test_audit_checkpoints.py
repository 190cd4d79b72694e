"""audit_checkpoint_schedule publishes signed checkpoints to git, and they witness the store.

In process (in-process executor, a temporary DAGSTER_HOME), against a real SQLite registry
and a real git repository: the auditor's key (system:auditor, bound in the roles' signers)
signs, the checkpoint is committed, the gateway's start-up check passes; after a truncation
with the head reset, the same check refuses the store."""
from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from assets.resources import ProjectResource, RegistryResource
from llmreg.registry.api import Registry
from llmreg.registry.errors import IntegrityError
from llmreg.registry.roles import Roles
from llmreg.registry.witness import check_against_newest
from pipelines.audit_checkpoints import audit_checkpoint_job, audit_checkpoint_schedule

SPEC = {"name": "witnessed", "model": "gpt-5-mini-2026-06-01", "prompt_ref": "triage-prompt@v9",
        "params": {"max_tokens": 300}, "eval": {"suite": "s", "score": 0.95, "run": "r1",
                                                "segments": {"eu": 0.95, "us": 0.95}}}
MEMBERS = {"admin": ["admin"], "alice": ["developer"], "ci": ["release-manager"], "system:auditor": ["auditor"]}


@pytest.fixture
def instance(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.instance_for_test(temp_dir=str(home)) as inst:
        yield inst


@pytest.fixture
def repo(tmp_path) -> Path:
    path = tmp_path / "project"
    subprocess.run(["git", "init", "-q", str(path)], check=True)
    return path


@pytest.fixture
def store(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    with Registry.open(url, artifacts=tmp_path / "artifacts") as reg:
        signers = {m: [reg.keys.key_for(m).public.openssh()] for m in MEMBERS}  # the auditor's key bound too
        reg.configure_roles(Roles.default(members=MEMBERS).to_dict(), actor="admin", signers=signers)
        reg.configure_gates({"eval_threshold": 0.9}, actor="admin")
        reg.register(SPEC, actor="alice")
        reg.promote("witnessed", "1.0.0", "staging", actor="ci")
    return url


def _run(instance, store: str, tmp_path, project: Path, **config):
    resources = {"registry": RegistryResource(url=store, artifacts=str(tmp_path / "artifacts")),
                 "project": ProjectResource(root=str(project))}
    return audit_checkpoint_job.execute_in_process(
        instance=instance, resources=resources, raise_on_error=False,
        run_config={"ops": {"audit_checkpoint": {"config": config}}})


def _git_log(repo: Path) -> list[str]:
    done = subprocess.run(["git", "-C", str(repo), "log", "--format=%s"], capture_output=True, text=True)
    return [line for line in done.stdout.splitlines() if line]


def test_the_job_commits_a_checkpoint_the_store_then_verifies_against(instance, store, tmp_path, repo):
    result = _run(instance, store, tmp_path, repo)  # repo "": the project's own repository
    assert result.success
    out = result.output_for_node("audit_checkpoint")
    assert Path(out["path"]).is_file() and out["path"].startswith(str(repo / "audit" / "checkpoints"))
    assert _git_log(repo) == [f"audit checkpoint #{out['seq']} of {out['registry_id']}"]
    with Registry.open(store, artifacts=tmp_path / "artifacts") as reg:
        assert out["signer"] == reg.keys.key_for("system:auditor").fingerprint
        check = check_against_newest(reg, str(repo))
        assert check.ok and check.kind == "ok", check.reason
        from llmreg.serving.config import CheckpointsConfig
        from llmreg.serving.startup_check import check_store

        assert "verified against its newest checkpoint" in check_store(reg, CheckpointsConfig(repo=str(repo)))
    # an attacker truncates the log below the checkpoint and resets the head row
    conn = sqlite3.connect(store.removeprefix("sqlite:///"))
    conn.execute("DROP TRIGGER IF EXISTS events_append_only_delete")
    conn.execute("DELETE FROM events WHERE seq > 2")
    conn.execute("UPDATE head SET seq = 2, hash = (SELECT hash FROM events WHERE seq = 2)")
    conn.commit()
    conn.close()
    with Registry.open(store, artifacts=tmp_path / "artifacts") as reg:
        check = check_against_newest(reg, str(repo))
        assert (check.ok, check.kind) == (False, "truncated")
        with pytest.raises(IntegrityError, match="^gateway not started: .*log truncated"):
            check_store(reg, CheckpointsConfig(repo=str(repo)))


def test_a_store_that_fails_the_audit_gets_no_checkpoint(instance, store, tmp_path, repo):
    conn = sqlite3.connect(store.removeprefix("sqlite:///"))
    conn.execute("UPDATE stage_pointers SET version = '9.9.9'")  # the projection edited
    conn.commit()
    conn.close()
    result = _run(instance, store, tmp_path, repo, repo=str(repo))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "no checkpoint published: no checkpoint taken: audit FAILED" in failure.step_failure_data.error.message
    assert _git_log(repo) == []


def test_a_repo_that_is_not_git_fails_in_one_line(instance, store, tmp_path):
    result = _run(instance, store, tmp_path, tmp_path, repo=str(tmp_path / "nowhere"))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "not a git work tree" in failure.step_failure_data.error.message


def test_the_schedule_is_hourly_and_loads_in_definitions():
    from pipelines.definitions import defs

    assert audit_checkpoint_schedule.cron_schedule == "0 * * * *"
    with dg.build_schedule_context() as context:
        (request,) = audit_checkpoint_schedule.evaluate_tick(context).run_requests
    assert request.job_name in (None, "audit_checkpoint_job")
    loaded = defs()
    assert loaded.resolve_schedule_def("audit_checkpoint_schedule").job_name == "audit_checkpoint_job"
    assert loaded.resolve_job_def("audit_checkpoint_job").executor_def.name == "in_process"


def test_an_auditor_key_checkers_would_not_trust_publishes_nothing(instance, tmp_path, repo):
    """Embedded mode (no signers bound): system:auditor's key signed no event, so a checkpoint by it
    would only make the gateway refuse to start. The run says how to fix it instead."""
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    with Registry.open(url, artifacts=tmp_path / "artifacts") as reg:
        reg.configure_gates({"eval_threshold": 0.9}, actor="admin")
    result = _run(instance, url, tmp_path, repo, repo=str(repo))
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "not a trusted signer" in failure.step_failure_data.error.message
    assert "--signers" in failure.step_failure_data.error.message
    assert _git_log(repo) == []
    allowed = tmp_path / "allowed_signers"  # the checkers' allowed-signers file trusts it: published
    with Registry.open(url, artifacts=tmp_path / "artifacts") as reg:
        allowed.write_text(f"system:auditor {reg.keys.key_for('system:auditor').public.openssh()}\n")
    assert _run(instance, url, tmp_path, repo, repo=str(repo), trust_file=str(allowed)).success
    assert len(_git_log(repo)) == 1
