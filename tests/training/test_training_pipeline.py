"""End to end, as DVC runs it: corpus -> splits -> base model -> LoRA, twice, in two directories.

Each chain runs its steps as `python -m training.<step>` subprocesses with a different
PYTHONHASHSEED (peft writes a set into adapter_config.json, whose order follows the hash
seed), so byte-identical outputs mean the steps are reproducible across processes and
checkouts, not just within one interpreter.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training.outputs import read_parquet

STEPS = ("corpus", "splits", "base_model", "lora")
PARAMS = """\
data: {{n_tickets: 1500, prompt_path: {prompt}}}
base_model: {{pretrain_steps: 80}}
lora: {{steps: 120}}
"""


def _run_chains(dirs: list[Path]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    for step in STEPS:
        procs = [
            subprocess.Popen([sys.executable, "-m", f"training.{step}"], cwd=d,
                             env={**env, "PYTHONHASHSEED": seed},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for d, seed in zip(dirs, ("3", "5"))
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"training.{step} failed:\n{out}\n{err}"


@pytest.fixture(scope="module")
def chains(tmp_path_factory, prompt_path) -> list[Path]:
    dirs = [tmp_path_factory.mktemp("checkout-a"), tmp_path_factory.mktemp("elsewhere") / "checkout-b"]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
        (d / "params.yaml").write_text(PARAMS.format(prompt=prompt_path))
    _run_chains(dirs)
    return dirs


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_every_output_is_byte_identical_across_checkouts(chains):
    a, b = chains
    for folder in ("data", "models/base", "models/adapter"):
        files_a, files_b = _files(a / folder), _files(b / folder)
        assert files_a.keys() == files_b.keys()
        for name in files_a:
            assert files_a[name] == files_b[name], f"{folder}/{name} differs between runs"
    assert set(_files(a / "models/adapter")) == {"adapter_config.json", "adapter_model.safetensors", "README.md"}


@pytest.mark.slow
def test_metrics_agree_on_everything_but_wall_time(chains):
    for name in ("base_model.json", "train.json"):
        a, b = (json.loads((d / "metrics" / name).read_text()) for d in chains)
        timing = {k for k in a if "seconds" in k}
        assert {k: v for k, v in a.items() if k not in timing} == {k: v for k, v in b.items() if k not in timing}
    train = json.loads((chains[0] / "metrics" / "train.json").read_text())
    assert train["steps"] == 120 and train["trainable_parameters"] == 8192
    assert train["seconds"] > 0 and train["final_loss"] < 1.5


@pytest.mark.slow
def test_adapter_records_the_logical_base_name_not_a_path(chains):
    adapter = chains[0] / "models" / "adapter"
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "llm-registry/triage-base"
    assert config["target_modules"] == ["q_proj", "v_proj"]
    assert (config["r"], config["lora_alpha"]) == (8, 16)
    for path in adapter.iterdir():
        assert str(chains[0]).encode() not in path.read_bytes()


@pytest.mark.slow
def test_fine_tuning_lifts_held_out_accuracy_far_above_the_base(chains, template):
    from training.predict import accuracy, load_model, predict_labels

    root = chains[0]
    frame = read_parquet(root / "data/splits/eval.parquet")
    prompts = [template.render(text=t) for t in frame["text"]]
    labels = frame["label"].tolist()
    base = accuracy(predict_labels(*load_model(root / "models/base"), prompts), labels)
    tuned = accuracy(predict_labels(*load_model(root / "models/base", root / "models/adapter"), prompts), labels)
    assert base < 0.05
    assert tuned > 0.85
