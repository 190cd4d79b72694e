"""`make demo`: the whole chain on the embedded default, end to end, with progress.

1. materialize every asset (datasets -> base model -> LoRA adapter -> eval -> registry entry)
   with the in-process executor on a SQLite Dagster instance under DAGSTER_HOME;
2. record the outputs in DVC (`dvc commit`), so `dvc repro` right after is a no-op;
3. run one tick of promote_on_eval_sensor and the runs it requests;
4. print the registry (`llmreg list`) and the staging resolution of the demo model;
5. reproduce that version from its lineage (`llmreg reproduce`): a git worktree of the
   recorded commit, `dvc repro --force`, every checksum compared with the registered one.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

STAGES = "datasets, training, evaluation, registry"
# Step progress at INFO; Dagster's per-event DEBUG lines would bury it.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _say(step: str, message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {step}: {message}", flush=True)


def _dvc() -> str | None:
    dvc = os.environ.get("LLMREG_DVC") or str(Path(".tools/dvc/bin/dvc").resolve())
    return dvc if Path(dvc).is_file() else None


def materialize_chain(instance) -> dict[str, float]:
    from pipelines.definitions import defs

    job = defs.resolve_job_def("full_chain_job")
    result = job.execute_in_process(instance=instance, raise_on_error=True, run_config=QUIET)
    seconds = {}
    for event in result.all_events:
        if event.event_type_value == "ASSET_MATERIALIZATION":
            mat = event.event_specific_data.materialization
            meta = mat.metadata.get("seconds")
            seconds[mat.asset_key.to_user_string()] = meta.value if meta else None
    return seconds


def dvc_record() -> None:
    dvc = _dvc()
    if dvc is None:
        _say("dvc", "DVC tool env not found (.tools/dvc); skipped (`make install` creates it)")
        return
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    # The assets wrote every stage's outputs (same step functions): record them as they are.
    subprocess.run([dvc, "commit", "--force", "--quiet"], check=True, env=env)
    status = subprocess.run([dvc, "status", "--quiet"], env=env)
    _say("dvc", "outputs recorded in dvc.lock; `dvc repro` is now a no-op"
         if status.returncode == 0 else "dvc status reports changes (see above)")


def sensor_tick(instance) -> list[str]:
    """One tick of promote_on_eval_sensor; runs what it requests, once per run_key."""
    import dagster as dg

    from pipelines.definitions import defs
    from pipelines.sensors import promote_on_eval_sensor

    cursor_file = Path(instance.root_directory) / "promote_on_eval_sensor.cursor"
    cursor = cursor_file.read_text().strip() if cursor_file.exists() else None
    resources = defs.resources
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = promote_on_eval_sensor(context)
    job = defs.resolve_job_def("promote_to_staging_job")
    launched = []
    for request in result.run_requests or []:
        seen = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/run_key": request.run_key}))
        if seen:
            continue
        job.execute_in_process(run_config={**request.run_config, **QUIET}, instance=instance,
                               tags={**request.tags, "dagster/run_key": request.run_key})
        launched.append(request.run_key)
    if result.cursor is not None:
        cursor_file.write_text(result.cursor)
    return launched


def _staging_version() -> str | None:
    from llmreg.registry.api import Registry

    reg = Registry.open()
    try:
        return reg.status("support-triage").get("default", {}).get("staging")
    finally:
        reg.close()


def llmreg(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "llmreg.cli", *args], check=True)


def main() -> int:
    import logging

    import dagster as dg

    # Step mains configure logging for their own CLI use; keep migration chatter out of the demo.
    logging.getLogger("alembic").setLevel(logging.WARNING)

    os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster").resolve()))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    instance = dg.DagsterInstance.get()

    _say("chain", f"materializing all assets ({STAGES}) in process")
    seconds = materialize_chain(instance)
    for key, secs in seconds.items():
        _say("chain", f"  {key:<20} {secs if secs is not None else '-'} s")
    dvc_record()
    _say("sensor", "one tick of promote_on_eval_sensor")
    for key in sensor_tick(instance):
        _say("sensor", f"  ran promote_to_staging_job for {key}")
    _say("registry", "llmreg list")
    llmreg("list")
    _say("registry", "llmreg resolve support-triage --env default --stage staging")
    llmreg("resolve", "support-triage", "--env", "default", "--stage", "staging")
    version = _staging_version()
    if version and _dvc():
        _say("reproduce", f"llmreg reproduce support-triage@{version} (re-runs the chain from its recorded commit)")
        llmreg("reproduce", f"support-triage@{version}")
    _say("done", f"whole chain in {time.perf_counter() - started:.0f} s; "
                 "browse it with `make ui` (http://127.0.0.1:3000)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
