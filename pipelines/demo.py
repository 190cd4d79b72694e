"""`make demo`: the whole chain on the embedded default, end to end, with progress.

1. materialize every asset (datasets -> base model -> LoRA adapter -> eval -> registry entry)
   with the in-process executor on a SQLite Dagster instance under DAGSTER_HOME; the
   registration brings dvc.lock up to date (`dvc commit`), so `dvc repro` right after is a
   no-op, and records whether the commit's dvc.lock describes the registered bytes;
2. push the outputs to the DVC remote (a local directory: .llmreg/dvc-remote);
3. run promote_on_eval_sensor and registry_audit_sensor under `dagster-daemon` (the UI shows
   their ticks, the promotion run, and the promotion on registry_entry's timeline);
4. print the registry (`llmreg list`) and the staging resolution of the demo model;
5. restore that version on a fresh worktree from the DVC remote and compare every checksum
   (`llmreg reproduce --from-remote`; without the flag it rebuilds with `dvc repro --force`).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

STAGES = "datasets, training, evaluation, registry"
SENSORS = ("promote_on_eval_sensor", "registry_audit_sensor")
DAEMON_TIMEOUT_S = 150
# Step progress at INFO; Dagster's per-event DEBUG lines would bury it.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _say(step: str, message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {step}: {message}", flush=True)


def _dvc() -> str | None:
    dvc = os.environ.get("LLMREG_DVC") or str(Path(".tools/dvc/bin/dvc").resolve())
    return dvc if Path(dvc).is_file() else None


def materialize_chain(instance) -> dict[str, float]:
    from pipelines.definitions import defs

    job = defs().resolve_job_def("full_chain_job")
    result = job.execute_in_process(instance=instance, raise_on_error=True, run_config=QUIET)
    seconds: dict[str, float] = {}
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS":
            seconds[event.step_key] = round(event.event_specific_data.duration_ms / 1000, 1)
    return seconds


def dvc_push() -> None:
    dvc = _dvc()
    if dvc is None:
        _say("dvc", "DVC tool env not found (.tools/dvc); skipped (`make install` creates it)")
        return
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    status = subprocess.run([dvc, "status", "--quiet"], env=env, check=False)
    _say("dvc", "dvc.lock describes the outputs; `dvc repro` is a no-op" if status.returncode == 0
         else "dvc status reports changes (see above)")
    Path(".llmreg/dvc-remote").mkdir(parents=True, exist_ok=True)
    subprocess.run([dvc, "push", "--quiet"], env=env, check=True)
    _say("dvc", "outputs pushed to the DVC remote (.llmreg/dvc-remote)")


def _dagster(*args: str) -> subprocess.CompletedProcess:
    exe = str(Path(sys.executable).parent / "dagster")
    return subprocess.run([exe, *args, "-w", "workspace.yaml"], capture_output=True, text=True, check=False)


def sensors_under_daemon(instance) -> bool:
    """Start the sensors, run `dagster-daemon` until the promotion run finished and the audit
    sensor ticked after it; stop the daemon. False when the daemon could not do it."""
    import dagster as dg

    for name in SENSORS:
        started = _dagster("sensor", "start", name)
        if started.returncode != 0 and "already running" not in started.stdout + started.stderr:
            _say("sensor", f"could not start {name}: {(started.stderr or started.stdout).strip()[-300:]}")
            return False
    daemon = subprocess.Popen([str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    began = time.time()
    try:
        promoted_at = None
        while time.time() - began < DAEMON_TIMEOUT_S:
            time.sleep(3)
            runs = instance.get_runs(filters=dg.RunsFilter(job_name="promote_to_staging_job"))
            done = [r for r in runs if r.status.value in ("SUCCESS", "FAILURE")]
            if promoted_at is None and done:
                promoted_at = time.time()
                _say("sensor", f"promote_to_staging_job run {done[0].run_id[:8]}: {done[0].status.value}")
            if promoted_at is not None:
                ticks = instance.get_ticks(_origin_id(instance, "registry_audit_sensor"),
                                           _selector_id(instance, "registry_audit_sensor"), limit=1)
                if ticks and ticks[0].timestamp > promoted_at and ticks[0].status.value in ("SUCCESS", "SKIPPED"):
                    return True
        _say("sensor", f"daemon did not finish in {DAEMON_TIMEOUT_S} s")
        return False
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=20)
        except subprocess.TimeoutExpired:
            daemon.kill()


def _state(instance, name: str):
    for state in instance.all_instigator_state():
        if state.instigator_name == name:
            return state
    return None


def _origin_id(instance, name: str):
    state = _state(instance, name)
    return state.instigator_origin_id if state else None


def _selector_id(instance, name: str):
    state = _state(instance, name)
    return state.selector_id if state else None


def sensor_ticks_in_process(instance) -> list[str]:
    """The fallback: one tick of each sensor, evaluated and its runs executed here."""
    import dagster as dg

    from pipelines.audit import registry_audit_sensor
    from pipelines.definitions import defs as load
    from pipelines.sensors import promote_on_eval_sensor

    defs = load()
    launched = []
    with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
        result = promote_on_eval_sensor(context)
    job = defs.resolve_job_def("promote_to_staging_job")
    for request in result.run_requests or []:
        job.execute_in_process(run_config={**request.run_config, **QUIET}, instance=instance,
                               tags={**request.tags, "dagster/run_key": request.run_key})
        launched.append(request.run_key)
    with dg.build_sensor_context(instance=instance, resources=defs.resources) as context:
        audit = registry_audit_sensor(context)
    for event in audit.asset_events:
        instance.report_runless_asset_event(event)
    return launched


def _staging_version() -> str | None:
    from llmreg.registry.api import Registry

    with Registry.open() as reg:
        return reg.status("support-triage").get("default", {}).get("staging")


def llmreg(*args: str, check: bool = True) -> int:
    return subprocess.run([sys.executable, "-m", "llmreg.cli", *args], check=check).returncode


def main() -> int:
    import logging

    import dagster as dg

    logging.getLogger("alembic").setLevel(logging.WARNING)
    os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster").resolve()))
    home = Path(os.environ["DAGSTER_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():  # a demo must not phone home
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    # Every registry write is signed by its actor's key: one key per bot, in a keyring beside
    # the demo's store (a real deployment supplies them as secrets). Kept out of git by .llmreg/.
    os.environ.setdefault("LLMREG_KEYRING", str(Path(".llmreg/keys").resolve()))
    from llmreg.registry.keys import write_new_key

    for bot in ("system:pipeline", "system:promote-on-eval", "system:provider-discovery",
                "system:provider-qualification", "ci"):
        key = Path(os.environ["LLMREG_KEYRING"]) / f"{bot}.key"
        if not key.exists():
            write_new_key(str(key), comment=f"{bot}@demo")
    started = time.perf_counter()
    instance = dg.DagsterInstance.get()

    _say("chain", f"materializing all assets ({STAGES}) in process, kernels pinned per step")
    for key, secs in materialize_chain(instance).items():
        _say("chain", f"  {key:<20} {secs} s")
    dvc_push()
    _say("sensor", f"running {', '.join(SENSORS)} under dagster-daemon")
    if not sensors_under_daemon(instance):
        _say("sensor", "falling back to one in-process tick of each sensor")
        for key in sensor_ticks_in_process(instance):
            _say("sensor", f"  ran promote_to_staging_job for {key}")
    _say("registry", "llmreg list")
    llmreg("list")
    _say("registry", "llmreg resolve support-triage --env default --stage staging")
    llmreg("resolve", "support-triage", "--env", "default", "--stage", "staging")
    version = _staging_version()
    if version and _dvc():
        _say("reproduce", f"llmreg reproduce support-triage@{version} --from-remote")
        llmreg("reproduce", f"support-triage@{version}", "--from-remote", check=False)
    _say("done", f"whole chain in {time.perf_counter() - started:.0f} s; "
                 "browse it with `make ui` (http://127.0.0.1:3000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
