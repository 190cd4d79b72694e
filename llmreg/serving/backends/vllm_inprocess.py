"""vLLM in-process backend: the base model in a vLLM engine, the LoRA adapter per request.

Only where `vllm` imports and a GPU is present (or VLLM_TARGET_DEVICE=cpu). Elsewhere
`vllm_unavailable_reason()` says why and construction raises a clear server error, which
the gateway reports instead of silently falling back to another engine. For production
deployments prefer a vLLM *server* behind the upstream backend (one engine, many replicas).
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from typing import Any

from llmreg.serving.api_errors import server_error
from llmreg.serving.backends.base import Generation, GenerationRequest
from llmreg.serving.backends.local_files import LocalModelFiles

DEFAULT_MAX_NEW_TOKENS = 16


def vllm_unavailable_reason() -> str | None:
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed: pip install vllm on a GPU machine, or set local_engine: transformers"
    if os.environ.get("VLLM_TARGET_DEVICE") == "cpu":
        return None
    try:
        import torch
    except ImportError:  # pragma: no cover - torch ships with the pipeline extra
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no GPU for vllm: run on a CUDA machine, set VLLM_TARGET_DEVICE=cpu, or set local_engine: transformers"
    return None


class VLLMBackend:  # pragma: no cover - needs vllm and a GPU; the unavailable path is tested
    kind = "vllm"

    def __init__(self, files: LocalModelFiles, *, max_lora_rank: int = 64, **engine_kwargs: Any):
        reason = vllm_unavailable_reason()
        if reason is not None:
            raise server_error(f"local_engine vllm: {reason}", code="backend_unavailable")
        from vllm import LLM
        from vllm.lora.request import LoRARequest

        self.files = files
        self._lock = threading.Lock()
        self._llm = LLM(model=files.base_dir, enable_lora=files.adapter_dir is not None,
                        max_lora_rank=max_lora_rank, **engine_kwargs)
        self._lora = LoRARequest(files.adapter_name or "adapter", 1, files.adapter_dir) if files.adapter_dir else None

    def _generate_sync(self, request: GenerationRequest) -> Generation:
        from vllm import SamplingParams

        params = request.params
        sampling = SamplingParams(temperature=0.0, max_tokens=int(params.get("max_tokens") or DEFAULT_MAX_NEW_TOKENS),
                                  stop=params.get("stop"))
        with self._lock:
            result = self._llm.generate([request.prompt], sampling, lora_request=self._lora, use_tqdm=False)[0]
        out = result.outputs[0]
        return Generation(text=out.text, finish_reason=out.finish_reason or "stop",
                          prompt_tokens=len(result.prompt_token_ids or ()), completion_tokens=len(out.token_ids))

    async def generate(self, request: GenerationRequest) -> Generation:
        return await asyncio.to_thread(self._generate_sync, request)

    async def aclose(self) -> None:
        self._llm = None


def load_vllm(files: LocalModelFiles, **kwargs: Any) -> VLLMBackend:
    return VLLMBackend(files, **kwargs)
