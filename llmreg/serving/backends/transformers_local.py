"""Local transformers backend: the demo's base model + LoRA adapter, greedy decoding on CPU.

The embedded default. Loading goes through `verified_files` first (checksums), then
AutoModelForCausalLM + PeftModel exactly as training/ and evals/ load them. Generation runs
in a worker thread (torch releases the GIL) one request at a time per model, so the event
loop keeps serving other entries while a model computes.
"""
from __future__ import annotations

import asyncio
import threading
import warnings
from typing import Any

from llmreg.serving.api_errors import server_error
from llmreg.serving.backends.base import Generation, GenerationRequest, apply_stop
from llmreg.serving.backends.local_files import LocalModelFiles

DEFAULT_MAX_NEW_TOKENS = 16


class TransformersBackend:
    kind = "transformers"

    def __init__(self, files: LocalModelFiles, *, device: str = "cpu"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.files = files
        self._lock = threading.Lock()
        self.tokenizer = AutoTokenizer.from_pretrained(files.base_dir)
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(files.base_dir, dtype=torch.float32)
        if files.adapter_dir is not None:
            from peft import PeftModel

            with warnings.catch_warnings():  # peft 0.21 probes a property transformers 5 deprecated
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
                model = PeftModel.from_pretrained(model, files.adapter_dir)
        self.model = model.to(device).eval()
        self.device = device

    def _prompt_text(self, request: GenerationRequest) -> str:
        if request.kind == "chat" and not request.templated and getattr(self.tokenizer, "chat_template", None):
            return self.tokenizer.apply_chat_template(list(request.messages), add_generation_prompt=True, tokenize=False)
        return request.prompt

    def _generate_sync(self, request: GenerationRequest) -> Generation:
        import torch

        params = request.params
        max_new = int(params.get("max_tokens") or DEFAULT_MAX_NEW_TOKENS)
        enc = self.tokenizer(self._prompt_text(request), return_tensors="pt").to(self.device)
        prompt_len = int(enc["input_ids"].shape[1])
        with self._lock, torch.inference_mode():
            out = self.model.generate(**enc, max_new_tokens=max_new, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id)
        new_tokens = out[0, prompt_len:]
        eos = self.tokenizer.eos_token_id
        ids = new_tokens.tolist()
        finished = eos is not None and eos in ids
        if finished:
            ids = ids[: ids.index(eos)]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        text, stopped = apply_stop(text, params.get("stop"))
        return Generation(text=text, finish_reason="stop" if finished or stopped else "length",
                          prompt_tokens=prompt_len, completion_tokens=len(ids))

    async def generate(self, request: GenerationRequest) -> Generation:
        try:
            return await asyncio.to_thread(self._generate_sync, request)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise server_error(f"local model {self.files.base_dir}: generation failed: {exc}", code="backend_error") from None

    async def aclose(self) -> None:
        self.model = None


def load_transformers(files: LocalModelFiles, **kwargs: Any) -> TransformersBackend:
    return TransformersBackend(files, **kwargs)
