"""Pinned CPU kernel paths: the same bytes from the same seed on every x86-64 machine.

PyTorch picks its vectorised kernels by the CPU it finds (ATen dispatch: DEFAULT, AVX2,
AVX512), and so do MKL (GEMM) and oneDNN; each path rounds differently, so an AVX-512
machine and an AVX2 one train different weights from one seed. All of them choose their
path once, when the library first runs a kernel, from environment variables. So every step
that computes runs its numeric work in a fresh child process whose environment pins them
before torch loads (`run_pinned`); the parent's own torch, whatever it already chose, never
touches the weights. Measured cost on the demo chain: see README ("Determinism").
"""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# The scalar ATen kernels and MKL's compatible code path exist on every x86-64 CPU; oneDNN
# is capped and, inside the step, switched off for float32 (deterministic_run). One thread:
# a float reduction split across threads rounds differently per split.
PINNED_ENV: dict[str, str] = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "DNNL_MAX_CPU_ISA": "SSE41",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",  # cuBLAS determinism, read when cuBLAS starts
    "PYTHONHASHSEED": "0",
}
_MARK = "LLMREG_PINNED_KERNELS"


def in_pinned_process() -> bool:
    """True inside a child `run_pinned` started (the pins were in force before torch loaded)."""
    return os.environ.get(_MARK) == "1" and all(os.environ.get(k) == v for k, v in PINNED_ENV.items())


def run_pinned(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` in a fresh `python -m training.kernels` child whose environment
    pins the kernels before torch loads; its result or exception comes back as if called
    here. `fn` must be importable (top level). A plain child process, not multiprocessing's
    spawn, so the caller's own `__main__` is never re-run in it."""
    if in_pinned_process():
        return fn(*args, **kwargs)
    env = {**os.environ, **PINNED_ENV, _MARK: "1",
           # the caller's import path (a checkout run with -m, pytest's rootdir, PYTHONPATH)
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    with tempfile.TemporaryDirectory(prefix="llmreg-pinned-") as tmp:
        call, result = Path(tmp) / "call.pkl", Path(tmp) / "result.pkl"
        call.write_bytes(pickle.dumps((_import_name(fn), args, kwargs)))
        proc = subprocess.run([sys.executable, "-m", "training.kernels", str(call), str(result)], env=env,
                              check=False)
        if not result.exists():
            from training.errors import TrainingError

            raise TrainingError(f"{getattr(fn, '__qualname__', fn)}: the pinned-kernel process exited "
                                f"{proc.returncode} without a result; its error is in the log above")
        ok, value = pickle.loads(result.read_bytes())
    if ok:
        return value
    raise value


def _import_name(fn: Callable[..., Any]) -> tuple[str, str]:
    """(module, qualname) the child imports `fn` by; a step run as `python -m training.x` has
    `__main__` as its module, which names another program in the child."""
    module = fn.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        if spec is None:
            raise TypeError(f"{fn.__qualname__} is defined in a script; define it in an importable module")
        module = spec.name
    return module, fn.__qualname__


def _child(call: Path, result: Path) -> int:
    import importlib

    (module, qualname), args, kwargs = pickle.loads(call.read_bytes())
    fn = importlib.import_module(module)
    for part in qualname.split("."):
        fn = getattr(fn, part)
    try:
        outcome = (True, fn(*args, **kwargs))
    except Exception as exc:  # noqa: BLE001 (handed back to the caller, which raises it)
        outcome = (False, exc)
    result.write_bytes(pickle.dumps(outcome))
    return 0


def kernel_settings() -> dict[str, Any]:
    """The dispatch settings in force in this process (recorded in the lineage)."""
    import torch

    return {
        "aten_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "pinned": in_pinned_process(),
        **{k.lower(): os.environ.get(k) for k in ("MKL_CBWR", "ONEDNN_MAX_CPU_ISA")},
        "mkldnn_enabled": bool(torch.backends.mkldnn.enabled),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "threads": torch.get_num_threads(),
    }


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1]), Path(sys.argv[2])))
