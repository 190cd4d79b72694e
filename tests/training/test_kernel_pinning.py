"""Same bytes whichever CPU kernels the machine would pick: the steps pin their dispatch.

On one machine, forcing PyTorch's ATen dispatch to different instruction sets stands in for
different x86-64 CPU families (AVX-512 server, AVX2 laptop, no-AVX VM). Unpinned, the same
seed trains different weights (the control below shows the test can fail); through the
steps, every setting gives the same digests, and so does this process, whose torch already
picked its own kernels.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PARAMS = """\
data: {{n_tickets: 400, prompt_path: {prompt}}}
base_model: {{pretrain_steps: 30}}
lora: {{steps: 30}}
"""
SETTINGS = ("avx512", "avx2", "default")


def _env(capability: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")}
    return {**env, "ATEN_CPU_CAPABILITY": capability, "PYTHONPATH": str(ROOT)}


def _digests(root: Path) -> tuple[str, str]:
    base = json.loads((root / "metrics/base_model.json").read_text())["sha256"]
    adapter = json.loads((root / "metrics/train.json").read_text())["adapter_sha256"]
    return base, adapter


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, prompt_path) -> Path:
    """A checkout with params and the data splits (plain Python: no kernels involved)."""
    root = tmp_path_factory.mktemp("pinning")
    (root / "params.yaml").write_text(PARAMS.format(prompt=prompt_path))
    for step in ("corpus", "splits"):
        subprocess.run([sys.executable, "-m", f"training.{step}"], cwd=root, env=_env("default"), check=True)
    return root


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_steps_give_identical_bytes_under_every_dispatch_setting(prepared, tmp_path):
    digests = {}
    for capability in SETTINGS:
        root = _copy(prepared, tmp_path / capability)
        for step in ("base_model", "lora"):
            proc = subprocess.run([sys.executable, "-m", f"training.{step}"], cwd=root, env=_env(capability),
                                  capture_output=True, text=True, check=False)
            assert proc.returncode == 0, proc.stderr[-2000:]
        digests[capability] = _digests(root)
        env = json.loads((root / "metrics/train.json").read_text())["environment"]
        dispatch = env["dispatch"]
        assert dispatch["aten_cpu_capability"] == "DEFAULT" and dispatch["pinned"] is True
        assert dispatch["deterministic_algorithms"] is True and dispatch["mkldnn_enabled"] is False
        assert (dispatch["mkl_cbwr"], dispatch["threads"]) == ("COMPATIBLE", 1)
    assert len(set(digests.values())) == 1, digests

    # In this process torch already chose its kernels (AVX-512 here): the step still pins.
    from training.base_model import base_model_step
    from training.lora import lora_step
    from training.params import load_params

    root = _copy(prepared, tmp_path / "in-process")
    params = load_params(root / "params.yaml")
    base_model_step(params, root)
    lora_step(params, root)
    assert _digests(root) == digests["avx512"]


def test_control_unpinned_dispatch_changes_the_weights(prepared, tmp_path):
    """Without the pins the dispatch setting changes the bytes: the test above can fail."""
    code = ("import sys; from pathlib import Path; from training.params import load_params\n"
            "from training.base_model import build_base_model\n"
            "p = load_params('params.yaml')\n"
            "print(build_base_model(p.base_model, p.data.train_path, p.data.prompt_path, Path(sys.argv[1]))['sha256'])\n")
    import torch

    if "avx512f" not in Path("/proc/cpuinfo").read_text():
        pytest.skip("this CPU has no AVX-512: the two settings would pick the same kernels")
    shas = set()
    for capability in ("avx512", "default"):
        proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / capability)], cwd=prepared,
                              env=_env(capability), capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        shas.add(proc.stdout.strip().splitlines()[-1])
    assert torch.backends.cpu.get_cpu_capability()  # (imported for the skip message's claim)
    assert len(shas) == 2


# Forcing ATen's dispatch on one machine does not move MKL: its vector math (torch.sqrt is
# MKL's vsSqrt here) picks its code by the CPU it finds even under MKL_CBWR=COMPATIBLE. An
# emulated CPU is the one-machine stand-in for another family: qemu-user's EPYC-Rome (AMD
# vendor, AVX2, no AVX-512) beside this host. Without fused AdamW the optimiser step differs.
_TRAIN = """\
import hashlib, torch
from training.kernels import in_pinned_process
from training.determinism import deterministic_run
from training.device import training_device
from training.loop import pad_right, train_steps
from transformers import LlamaConfig, LlamaForCausalLM
assert in_pinned_process()
with deterministic_run(0, 1):
    config = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, head_dim=16, max_position_embeddings=16)
    model = LlamaForCausalLM(config)
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randint(4, 50, (12,), generator=g).tolist() for _ in range(16)]
    train_steps(model, pad_right(seqs, seqs, 0), steps=4, batch_size=8, lr=0.01, warmup_steps=1, seed=0,
                device=training_device())
    model.eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(seqs[:4])).logits
    digest = hashlib.sha256(b"".join(p.detach().numpy().tobytes() for p in model.parameters()))
    print(digest.hexdigest(), hashlib.sha256(logits.numpy().tobytes()).hexdigest())
"""


def test_training_gives_identical_bytes_on_an_emulated_amd_cpu(tmp_path):
    import platform
    import shutil

    from training.kernels import PINNED_ENV

    qemu = shutil.which("qemu-x86_64")
    if platform.machine() != "x86_64" or qemu is None:
        pytest.skip("needs an x86-64 host with qemu-user (apt-get install qemu-user; `make debian-tools`)")
    env = {**os.environ, **PINNED_ENV, "LLMREG_PINNED_KERNELS": "1", "PYTHONPATH": str(ROOT)}
    runs = {}
    for name, prefix in (("host", []), ("emulated EPYC-Rome", [qemu, "-cpu", "EPYC-Rome"])):
        proc = subprocess.run([*prefix, sys.executable, "-c", _TRAIN], cwd=tmp_path, env=env, capture_output=True,
                              text=True, check=False, timeout=900)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs[name] = proc.stdout.split()[-2:]
    assert runs["host"] == runs["emulated EPYC-Rome"], runs
