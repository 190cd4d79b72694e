"""vLLM offline runner: fast batched greedy generation with the LoRA adapter applied per
request (no merge), bf16 on GPU.

Only usable where `vllm` is installed and a GPU is present (or VLLM_TARGET_DEVICE=cpu for
vLLM's CPU build). Elsewhere constructing it raises RunnerUnavailable with the reason;
`vllm_unavailable_reason()` asks without raising. The engine itself cannot be exercised
on the project's CPU machines, so only the unavailable path is tested here.
"""
from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from evals.runners.base import Completion, ProgressCallback, RunnerUnavailable
from evals.runners.local_model import LocalModelRunner, failed_batch, generation_params


def _gpu_present() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def vllm_unavailable_reason() -> str | None:
    """None when vLLM can run here, else why not (one line, with the fix)."""
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed: pip install vllm on a machine with a GPU, or use --runner transformers"
    if os.environ.get("VLLM_TARGET_DEVICE") == "cpu":
        return None
    if not _gpu_present():
        return "no GPU found for vllm: run on a CUDA machine, set VLLM_TARGET_DEVICE=cpu for vLLM's CPU build, or use --runner transformers"
    return None


class VLLMRunner(LocalModelRunner):
    name = "vllm"

    def __init__(
        self,
        base_dir: str | Path,
        adapter_dir: str | Path | None = None,
        batch_size: int = 256,
        max_new_tokens: int = 1,
        *,
        dtype: str | None = None,
        max_lora_rank: int = 64,
        seed: int = 0,
        params: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        progress_every: int = 1000,
        _engine: Any = None,
        **engine_kwargs: Any,
    ):
        reason = vllm_unavailable_reason()
        if reason is not None:
            raise RunnerUnavailable(reason)
        from vllm import LLM, SamplingParams

        from llmreg.registry.generation import vllm_sampling_kwargs

        self.params = generation_params(params, max_new_tokens)
        max_new_tokens = int(self.params["max_tokens"])

        super().__init__(
            base_dir, adapter_dir, batch_size, max_new_tokens, progress=progress, progress_every=progress_every
        )
        self.seed = seed
        self.max_lora_rank, self.engine_kwargs = max_lora_rank, engine_kwargs
        self.dtype_name = dtype or ("bfloat16" if _gpu_present() else "auto")
        # One engine serves base and tuned: the adapter is chosen per request.
        self.llm = _engine or LLM(
            model=str(self.base_dir),
            tokenizer=str(self.base_dir),
            enable_lora=True,
            max_lora_rank=max_lora_rank,
            max_loras=1,
            dtype=self.dtype_name,
            seed=seed,
            **engine_kwargs,
        )
        # the mapping the gateway's vLLM backend uses: evaluated = served
        self.sampling = SamplingParams(**vllm_sampling_kwargs(self.params))
        self.lora_request = None
        if self.adapter_dir is not None:
            from vllm.lora.request import LoRARequest

            self.lora_request = LoRARequest("eval-adapter", 1, str(self.adapter_dir))

    def base_variant(self) -> "VLLMRunner":
        """Same engine, no adapter: loading a second engine would double GPU memory."""
        return VLLMRunner(
            self.base_dir,
            None,
            self.batch_size,
            self.max_new_tokens,
            dtype=self.dtype_name,
            max_lora_rank=self.max_lora_rank,
            seed=self.seed,
            params=self.params,
            progress=self.progress_callback,
            progress_every=self.progress_every,
            _engine=self.llm,
            **self.engine_kwargs,
        )

    def _engine_settings(self) -> dict[str, Any]:
        return {"dtype": self.dtype_name}

    def _generate_batch(self, batch: list[str]) -> list[Completion]:
        began = time.perf_counter()
        try:
            results = self.llm.generate(batch, self.sampling, lora_request=self.lora_request, use_tqdm=False)
        except Exception as exc:  # recorded per prompt; the run goes on
            return failed_batch(batch, began, f"vllm generation failed: {type(exc).__name__}: {exc}")
        elapsed = (time.perf_counter() - began) * 1000
        return [
            Completion(
                text=result.outputs[0].text,
                latency_ms=elapsed,
                prompt_tokens=len(result.prompt_token_ids or ()),
                completion_tokens=len(result.outputs[0].token_ids),
            )
            for result in results
        ]
