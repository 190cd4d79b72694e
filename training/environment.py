"""The environment a step ran in, as recorded in the lineage, and how two records differ.

Bytes reproduce only where the numerics match: library versions, the kernel paths in force
(training/kernels.py) and the device. `llmreg reproduce` names the fields that differ when
a rebuild's bytes do not match the registered ones.
"""
from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from importlib import metadata
from typing import Any

PACKAGES = ("torch", "transformers", "peft", "tokenizers", "numpy", "safetensors", "accelerate")
# CPU features that change which kernels a library may pick when it is not pinned.
_ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16")


def cpu_isa() -> list[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [f for f in _ISA_FLAGS if f in flags]
    except OSError:
        pass
    return []


def environment_record() -> dict[str, Any]:
    """Python, library versions, CPU, kernel dispatch settings, CUDA and GPU when used."""
    import torch

    from training.kernels import kernel_settings

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    record: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": f"{sys.platform}-{platform.machine()}",
        "packages": versions,
        "cpu": {"machine": platform.machine(), "isa": cpu_isa()},
        "dispatch": kernel_settings(),
        "cuda": None,
    }
    if torch.cuda.is_available():
        record["cuda"] = {"version": torch.version.cuda, "gpu": torch.cuda.get_device_name(0)}
    return record


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


# Fields that describe the machine without changing the numerics once kernels are pinned.
INFORMATIONAL = ("cpu.isa",)


def environment_differences(recorded: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """`field: recorded -> current` for every field that differs (informational ones marked)."""
    a, b = _flatten(recorded), _flatten(current)
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            note = " (informational: kernels are pinned)" if key in INFORMATIONAL else ""
            lines.append(f"{key}: {a.get(key)!r} -> {b.get(key)!r}{note}")
    return lines
