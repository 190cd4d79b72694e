"""vLLM in-process backend: the base model in a vLLM engine, the LoRA adapter per request.

Only where `vllm` imports and a GPU is present (or VLLM_TARGET_DEVICE=cpu). Elsewhere
`vllm_unavailable_reason()` says why and construction raises a clear server error, which
the gateway reports instead of silently falling back to another engine. For production
deployments prefer a vLLM *server* behind the upstream backend (one engine, many replicas,
token streaming); in-process, a stream carries the finished answer in one chunk.
Sampling params come from `llmreg.registry.generation.vllm_sampling_kwargs`, the mapping the
eval runner uses.
"""
from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
from typing import Any

from llmreg.registry.generation import unsupported, vllm_sampling_kwargs
from llmreg.serving.api_errors import bad_request, server_error
from llmreg.serving.backends.base import Generation, GenerationRequest, StreamPart, delta_choice, text_choice
from llmreg.serving.backends.local_files import LocalModelFiles


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

    def __init__(self, files: LocalModelFiles, *, max_lora_rank: int = 64, runtime: Any = None, **engine_kwargs: Any):
        """runtime: the entry's `runtime:` section, mapped to engine arguments exactly as
        `llmreg vllm-command` maps it to flags (vllm_plan.runtime_engine_kwargs)."""
        from llmreg.serving.vllm_plan import runtime_engine_kwargs

        engine_kwargs = {**runtime_engine_kwargs(runtime or {}), **engine_kwargs}
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
        self.max_context = getattr(self._llm.llm_engine.model_config, "max_model_len", None)

    def _generate_sync(self, request: GenerationRequest) -> Generation:
        from vllm import SamplingParams

        refused = unsupported(request.params, "vllm") + (["tools"] if request.tools else [])
        if refused:
            raise bad_request(f"'{refused[0]}' cannot be honoured by the in-process vLLM backend; omit it",
                              param=refused[0], code="unsupported_parameter")
        if request.kind == "chat" and request.input.as_chat:
            tokenizer = self._llm.get_tokenizer()
            prompt = tokenizer.apply_chat_template(list(request.input.messages), add_generation_prompt=True,
                                                   tokenize=False)
        else:
            prompt = request.prompt
        sampling = SamplingParams(**vllm_sampling_kwargs(request.params))
        with self._lock:
            result = self._llm.generate([prompt], sampling, lora_request=self._lora, use_tqdm=False)[0]
        choices = tuple(text_choice(request.kind, i, out.text, out.finish_reason or "stop")
                        for i, out in enumerate(result.outputs))
        return Generation(choices, prompt_tokens=len(result.prompt_token_ids or ()),
                          completion_tokens=sum(len(out.token_ids) for out in result.outputs))

    async def generate(self, request: GenerationRequest) -> Generation:
        return await asyncio.to_thread(self._generate_sync, request)

    async def stream(self, request: GenerationRequest):
        generation = await self.generate(request)
        for choice in generation.choices:
            text = choice["message"]["content"] if "message" in choice else choice["text"]
            yield StreamPart((delta_choice(request.kind, choice["index"], text, first=True),))
            yield StreamPart((delta_choice(request.kind, choice["index"], None, choice["finish_reason"]),))
        yield StreamPart((), usage={"prompt_tokens": generation.prompt_tokens or 0,
                                    "completion_tokens": generation.completion_tokens or 0})

    async def aclose(self) -> None:
        self._llm = None


def load_vllm(files: LocalModelFiles, **kwargs: Any) -> VLLMBackend:
    return VLLMBackend(files, **kwargs)
