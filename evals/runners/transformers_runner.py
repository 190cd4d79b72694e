"""Local transformers runner: a causal LM (+ optional PEFT LoRA adapter), greedy by default.

CPU by default so the whole chain runs anywhere; left padding because decoder-only
models continue from the last position of each row, and a right-padded batch would
make short prompts continue from pad tokens.

`params` are an entry's generation params (any dialect: `max_new_tokens` or `max_tokens`);
the `generate` kwargs come from `llmreg.registry.generation.transformers_kwargs`, the
function the gateway's local backend uses, so an entry is evaluated exactly as it is served.
"""
from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

from evals.runners.base import Completion, ProgressCallback, RunnerError
from evals.runners.local_model import LocalModelRunner, failed_batch, generation_params


class TransformersRunner(LocalModelRunner):
    name = "transformers"

    def __init__(
        self,
        base_dir: str | Path,
        adapter_dir: str | Path | None = None,
        batch_size: int = 32,
        max_new_tokens: int = 1,
        *,
        num_threads: int | None = None,
        device: str = "cpu",
        dtype: str | None = None,
        seed: int = 0,
        params: dict[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        progress_every: int = 100,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if batch_size < 1:
            raise RunnerError(f"batch_size must be >= 1, got {batch_size}: pass a positive batch size")
        self.params = generation_params(params, max_new_tokens)
        max_new_tokens = int(self.params["max_tokens"])
        if max_new_tokens < 1:
            raise RunnerError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        super().__init__(
            base_dir, adapter_dir, batch_size, max_new_tokens, progress=progress, progress_every=progress_every
        )
        self.num_threads, self.device, self.seed = num_threads, device, seed
        if not (self.base_dir / "config.json").is_file():
            raise RunnerError(
                f"{self.base_dir}: no model here (config.json missing): pass the directory "
                "save_pretrained wrote"
            )
        if self.adapter_dir is not None and not (self.adapter_dir / "adapter_config.json").is_file():
            raise RunnerError(
                f"{self.adapter_dir}: no PEFT adapter here (adapter_config.json missing): pass "
                "the directory the LoRA adapter was saved to"
            )
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        torch.manual_seed(seed)
        # bf16 only where it is fast (GPU); CPU matmuls in bf16 are slow and less exact.
        self.dtype_name = dtype or ("bfloat16" if device.startswith("cuda") else "float32")
        torch_dtype = getattr(torch, self.dtype_name)

        self.tokenizer = AutoTokenizer.from_pretrained(self.base_dir)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            if self.tokenizer.eos_token is None:
                raise RunnerError(
                    f"{self.base_dir}: tokenizer has neither pad nor eos token: save it with a pad_token"
                )
            self.tokenizer.pad_token = self.tokenizer.eos_token

        model = AutoModelForCausalLM.from_pretrained(self.base_dir, dtype=torch_dtype)
        if self.adapter_dir is not None:
            from peft import PeftModel

            with warnings.catch_warnings():  # peft 0.21 probes a property transformers 5 deprecated
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
                model = PeftModel.from_pretrained(model, str(self.adapter_dir))
        self.model = model.to(device).eval()

    def base_variant(self) -> "TransformersRunner":
        """The same base model and settings without the adapter (for base-vs-tuned)."""
        return TransformersRunner(
            self.base_dir,
            None,
            self.batch_size,
            self.max_new_tokens,
            num_threads=self.num_threads,
            device=self.device,
            dtype=self.dtype_name,
            seed=self.seed,
            params=self.params,
            progress=self.progress_callback,
            progress_every=self.progress_every,
        )

    def _engine_settings(self) -> dict[str, Any]:
        return {"device": self.device, "dtype": self.dtype_name}

    def _generate_batch(self, batch: list[str]) -> list[Completion]:
        import torch

        from llmreg.registry.generation import transformers_kwargs

        began = time.perf_counter()
        try:
            enc = self.tokenizer(
                batch, return_tensors="pt", padding=True, return_token_type_ids=False
            ).to(self.device)
            if self.params.get("seed") is not None:
                torch.manual_seed(int(self.params["seed"]) % (2**63))
            with torch.inference_mode():
                generated = self.model.generate(
                    **enc,
                    **transformers_kwargs(self.params),
                    pad_token_id=self.tokenizer.pad_token_id,
                )
        except Exception as exc:  # one bad batch is recorded, the run goes on
            return failed_batch(batch, began, f"generation failed: {type(exc).__name__}: {exc}")
        # Every row in a batch waits for the whole batch: that is its latency.
        elapsed_ms = (time.perf_counter() - began) * 1000
        prompt_len = enc["input_ids"].shape[1]
        prompt_tokens = enc["attention_mask"].sum(dim=1).tolist()
        eos = self.tokenizer.eos_token_id
        from llmreg.registry.generation import apply_stop

        results = []
        for row, n_prompt in zip(generated[:, prompt_len:].tolist(), prompt_tokens):
            kept = []
            for token in row:  # stop at the first eos: what follows is padding
                kept.append(token)
                if token == eos:
                    break
            text, _ = apply_stop(self.tokenizer.decode(kept, skip_special_tokens=True), self.params.get("stop"))
            results.append(Completion(text, elapsed_ms, int(n_prompt), len(kept)))
        return results
