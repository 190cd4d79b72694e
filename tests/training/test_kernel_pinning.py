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
