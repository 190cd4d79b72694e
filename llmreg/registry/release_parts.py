"""The rest of the release tuple: how a version is served and what it runs with.

    runtime:       # the serving configuration (what `llmreg vllm-command` reads instead of flags)
      quantization: awq          # none | awq | gptq | fp8 | bitsandbytes | ... (as vLLM spells it)
      dtype: bfloat16            # auto | float16 | bfloat16 | float32
      hardware: nvidia-h100-80gb
      max_model_len: 8192
      tensor_parallel_size: 2
      batch: {max_num_seqs: 64, max_num_batched_tokens: 16384}
    dependencies:  # the lock of the libraries the version runs with
      lock: uv.lock
      sha256: <64 hex of the lock file>
      summary: {vllm: 0.11.0, transformers: 4.57.1}
    tokenizer:     # its own checksummed component (registration stores and verifies it)
      uri: tokenizer/
      sha256: <64 hex>
      ref: triage-tokenizer@v2   # optional name
    decoding:      # the decoding strategy (sampling settings stay in params)
      strategy: greedy           # greedy | sampling | beam_search | speculative
      num_beams: 4
      draft_model: tiny-draft@v1
      guided: json_schema

Bump levels (semver.py): a quantization, dtype, tokenizer or decoding strategy change
alters what the model says, so minor; hardware, batching, max length, parallelism, the
dependency lock and other decoding settings are configuration, so patch.

Each checker takes the raw value and returns a frozen mapping (or EMPTY); errors are one
line naming the field and the fix.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Callable

from .fields import (
    EMPTY,
    as_int,
    as_key,
    as_mapping,
    as_sha256,
    as_str,
    as_token,
    check_keys,
    check_path_safe,
    fail,
    is_floating,
)

DTYPES = ("auto", "float16", "bfloat16", "float32", "half", "float")
STRATEGIES = ("greedy", "sampling", "beam_search", "speculative")
RUNTIME_KEYS = ("quantization", "dtype", "hardware", "max_model_len", "tensor_parallel_size", "batch")
BATCH_KEYS = ("max_num_seqs", "max_num_batched_tokens")


def check_runtime(value: Any) -> Mapping[str, Any]:
    data = as_mapping(value, "runtime")
    if not data:
        return EMPTY
    check_keys(data, RUNTIME_KEYS, where="runtime")
    out: dict[str, Any] = {}
    for key in ("quantization", "hardware"):
        if data.get(key) is not None:
            out[key] = as_token(data[key], f"runtime.{key}", max_len=100)
    if data.get("dtype") is not None:
        dtype = as_token(data["dtype"], "runtime.dtype", max_len=20)
        if dtype not in DTYPES:
            fail("runtime.dtype", f"{dtype!r} is not a dtype; use one of {', '.join(DTYPES)}")
        out["dtype"] = dtype
    for key in ("max_model_len", "tensor_parallel_size"):
        if data.get(key) is not None:
            out[key] = as_int(data[key], f"runtime.{key}", lo=1)
    if data.get("batch") is not None:
        batch = as_mapping(data["batch"], "runtime.batch")
        check_keys(batch, BATCH_KEYS, where="runtime.batch")
        checked = {k: as_int(v, f"runtime.batch.{k}", lo=1) for k, v in batch.items() if v is not None}
        if checked:
            out["batch"] = MappingProxyType(checked)
    return MappingProxyType(out) if out else EMPTY


def check_dependencies(value: Any) -> Mapping[str, Any]:
    data = as_mapping(value, "dependencies")
    if not data:
        return EMPTY
    check_keys(data, ("lock", "sha256", "summary"), where="dependencies", required=("sha256",))
    out: dict[str, Any] = {"sha256": as_sha256(data["sha256"], "dependencies.sha256")}
    if data.get("lock") is not None:
        out["lock"] = as_str(data["lock"], "dependencies.lock", max_len=500)
    summary = as_mapping(data.get("summary"), "dependencies.summary")
    if summary:
        pinned = {}
        for package, version in summary.items():
            as_key(package, "dependencies.summary")
            text = as_token(str(version) if isinstance(version, (int, float)) else version,
                            f"dependencies.summary.{package}", max_len=100)
            if is_floating(text):
                fail(f"dependencies.summary.{package}", f"{text!r} is not a version; write the locked one (e.g. 4.57.1)")
            pinned[package] = text
        out["summary"] = MappingProxyType(dict(sorted(pinned.items())))
    return MappingProxyType(out)


def check_tokenizer(value: Any) -> Mapping[str, Any]:
    data = as_mapping(value, "tokenizer")
    if not data:
        return EMPTY
    check_keys(data, ("uri", "sha256", "ref"), where="tokenizer", required=("sha256",))
    out: dict[str, Any] = {"sha256": as_sha256(data["sha256"], "tokenizer.sha256")}
    if data.get("uri") is not None:
        out["uri"] = check_path_safe(as_str(data["uri"], "tokenizer.uri", max_len=2000), "tokenizer.uri",
                                     relative_name=False)
    if data.get("ref") is not None:
        from .spec import check_ref  # spec imports this module

        out["ref"] = check_ref(data["ref"], "tokenizer.ref")
    return MappingProxyType(out)


def check_decoding(value: Any) -> Mapping[str, Any]:
    data = as_mapping(value, "decoding")
    if not data:
        return EMPTY
    check_keys(data, ("strategy", "num_beams", "draft_model", "guided"), where="decoding", required=("strategy",))
    strategy = as_token(data["strategy"], "decoding.strategy", max_len=40)
    if strategy not in STRATEGIES:
        fail("decoding.strategy", f"{strategy!r} is not a strategy; use one of {', '.join(STRATEGIES)}")
    out: dict[str, Any] = {"strategy": strategy}
    if data.get("num_beams") is not None:
        if strategy != "beam_search":
            fail("decoding.num_beams", f"only beam_search takes num_beams (strategy is {strategy}); remove it")
        out["num_beams"] = as_int(data["num_beams"], "decoding.num_beams", lo=1)
    if data.get("draft_model") is not None:
        if strategy != "speculative":
            fail("decoding.draft_model", f"only speculative decoding takes a draft_model (strategy is {strategy})")
        draft = as_token(data["draft_model"], "decoding.draft_model", max_len=256)
        if is_floating(draft):
            fail("decoding.draft_model", f"{draft!r} is a moving name; pin the draft model (name@version or a snapshot)")
        out["draft_model"] = draft
    elif strategy == "speculative":
        fail("decoding.draft_model", "speculative decoding needs the draft model it verifies against; add draft_model")
    if data.get("guided") is not None:
        out["guided"] = as_token(data["guided"], "decoding.guided", max_len=40)
    return MappingProxyType(out)


# EntrySpec field -> its checker, in the order the spec lists them.
RELEASE_PARTS: Mapping[str, Callable[[Any], Mapping[str, Any]]] = MappingProxyType({
    "runtime": check_runtime, "dependencies": check_dependencies, "tokenizer": check_tokenizer,
    "decoding": check_decoding,
})


def describe_runtime(runtime: Mapping[str, Any]) -> str:
    """'awq, bfloat16, tp 2, max len 8192, on nvidia-h100-80gb, batch max_num_seqs=64' for cards and graphs."""
    parts = [runtime.get("quantization") or "no quantization"]
    if runtime.get("dtype"):
        parts.append(str(runtime["dtype"]))
    if runtime.get("tensor_parallel_size"):
        parts.append(f"tp {runtime['tensor_parallel_size']}")
    if runtime.get("max_model_len"):
        parts.append(f"max len {runtime['max_model_len']}")
    if runtime.get("hardware"):
        parts.append(f"on {runtime['hardware']}")
    batch = runtime.get("batch") or {}
    if batch:
        parts.append("batch " + ", ".join(f"{k}={v}" for k, v in batch.items()))
    return ", ".join(parts)
