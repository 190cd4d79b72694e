"""Local transformers backend: the demo's base model + LoRA adapter, on CPU by default.

The embedded default. Loading goes through `verified_files` first (checksums), then
AutoModelForCausalLM + PeftModel exactly as training/ and evals/ load them. Generation
kwargs come from `llmreg.registry.generation.transformers_kwargs`, the function the eval
runner uses, so the gateway decodes exactly as the eval did: greedy unless the entry (or an
override its policy allows) sets temperature > 0; `seed` seeds the sampler; `n` returns
several sequences; `stop` cuts the text. Fields it cannot honour (logprobs, tools,
response_format, penalties) are refused with a 400 naming them, never ignored.

Generation runs in a worker thread (torch releases the GIL), one request at a time per
model; a cancelled request (client gone) stops at the next token through a stopping
criterion. Streaming uses transformers' TextIteratorStreamer: tokens leave as decoded.
"""
from __future__ import annotations

import asyncio
import threading
import warnings
from typing import Any, AsyncIterator

from llmreg.registry.generation import transformers_kwargs, unsupported
from llmreg.serving.api_errors import ApiError, bad_request, server_error
from llmreg.serving.backends.base import (Generation, GenerationRequest, StreamPart, apply_stop, delta_choice,
                                          held_back, text_choice)
from llmreg.serving.backends.local_files import LocalModelFiles


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
        self.max_context = getattr(model.config, "max_position_embeddings", None)

    # ------------------------------------------------------------------ input
    def _prompt_text(self, request: GenerationRequest) -> str:
        if request.kind == "chat" and request.input.as_chat:
            if getattr(self.tokenizer, "chat_template", None):
                return self.tokenizer.apply_chat_template(list(request.input.messages), add_generation_prompt=True,
                                                          tokenize=False)
            if len(request.input.messages) > 1:
                raise bad_request(f"this local model ({self.files.base_dir}) has no chat template, so a conversation "
                                  "of several messages cannot be formatted; send one user message",
                                  param="messages")
        return request.prompt

    def _check(self, request: GenerationRequest, *, streaming: bool) -> None:
        refused = unsupported(request.params, "transformers")
        if request.tools:
            refused.append("tools")
        if refused:
            raise bad_request(f"'{refused[0]}' cannot be honoured by the local transformers backend; omit it (fields "
                              "it supports: max_tokens, temperature, top_p, seed, stop, n)", param=refused[0],
                              code="unsupported_parameter")
        if streaming and int(request.params.get("n") or 1) > 1:
            raise bad_request("streaming several choices ('n' > 1) is not supported by the local backend; "
                              "stream with n=1 or call without stream", param="n", code="unsupported_parameter")

    def _encode(self, request: GenerationRequest) -> tuple[Any, int]:
        enc = self.tokenizer(self._prompt_text(request), return_tensors="pt").to(self.device)
        prompt_len = int(enc["input_ids"].shape[1])
        max_new = int(request.params["max_tokens"])
        if self.max_context is not None and prompt_len + max_new > self.max_context:
            param = "messages" if request.kind == "chat" else "prompt"
            raise ApiError(400, f"This model's maximum context length is {self.max_context} tokens. However, you "
                                f"requested {prompt_len + max_new} tokens ({prompt_len} in the {param}, {max_new} for "
                                "the completion). Please reduce the length of the messages or completion.",
                           param=param, code="context_length_exceeded")
        return enc, prompt_len

    def _kwargs(self, request: GenerationRequest, cancel: threading.Event, streamer: Any = None) -> dict[str, Any]:
        from transformers import StoppingCriteria, StoppingCriteriaList

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):  # noqa: ANN001 - transformers' signature
                return cancel.is_set()

        kwargs = transformers_kwargs(request.params)
        kwargs.update(pad_token_id=self.tokenizer.pad_token_id, stopping_criteria=StoppingCriteriaList([Cancelled()]))
        if streamer is not None:
            kwargs["streamer"] = streamer
        return kwargs

    def _seed(self, params: Any) -> None:
        if params.get("seed") is not None:
            import torch

            torch.manual_seed(int(params["seed"]) % (2 ** 63))

    # ------------------------------------------------------------------ whole answers
    def _generate_sync(self, request: GenerationRequest, cancel: threading.Event | None = None) -> Generation:
        import torch

        self._check(request, streaming=False)
        cancel = cancel or threading.Event()
        enc, prompt_len = self._encode(request)
        with self._lock, torch.inference_mode():
            self._seed(request.params)
            out = self.model.generate(**enc, **self._kwargs(request, cancel))
        eos = self.tokenizer.eos_token_id
        choices, completion_tokens = [], 0
        for index, row in enumerate(out[:, prompt_len:].tolist()):
            finished = eos is not None and eos in row
            ids = row[: row.index(eos)] if finished else row
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            text, stopped = apply_stop(text, request.params.get("stop"))
            completion_tokens += len(ids)
            choices.append(text_choice(request.kind, index, text, "stop" if finished or stopped else "length"))
        return Generation(tuple(choices), prompt_tokens=prompt_len, completion_tokens=completion_tokens)

    async def generate(self, request: GenerationRequest) -> Generation:
        cancel = threading.Event()
        try:
            return await asyncio.to_thread(self._generate_sync, request, cancel)
        except asyncio.CancelledError:
            cancel.set()  # the worker stops at the next token
            raise
        except ApiError:
            raise
        except (RuntimeError, ValueError, IndexError) as exc:
            raise server_error(f"local model {self.files.base_dir}: generation failed: {exc}",
                               code="backend_error") from None

    # ------------------------------------------------------------------ streaming
    async def stream(self, request: GenerationRequest) -> AsyncIterator[StreamPart]:
        from transformers import TextIteratorStreamer

        self._check(request, streaming=True)
        enc, prompt_len = self._encode(request)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        cancel = threading.Event()
        counted: dict[str, Any] = {}

        def run() -> None:
            import torch

            try:
                with self._lock, torch.inference_mode():
                    self._seed(request.params)
                    out = self.model.generate(**enc, **self._kwargs(request, cancel, streamer))
                row = out[0, prompt_len:].tolist()
                eos = self.tokenizer.eos_token_id
                counted["finished"] = eos is not None and eos in row
                counted["tokens"] = row.index(eos) if counted["finished"] else len(row)
            except BaseException as exc:  # noqa: BLE001 - surfaced to the stream's reader
                counted["error"] = exc
                streamer.end()

        worker = threading.Thread(target=run, name="llmreg-generate", daemon=True)
        worker.start()
        stops = request.params.get("stop")
        text, sent, first, stopped = "", 0, True, False
        loop = asyncio.get_running_loop()
        try:
            while True:
                piece = await loop.run_in_executor(None, _next_or_none, streamer)
                if piece is None:
                    break
                text += piece
                cut, stopped = apply_stop(text, stops)
                if stopped:
                    cancel.set()
                    text = cut
                ready = len(text) if stopped else len(text) - held_back(text, stops)
                if ready > sent:
                    yield StreamPart((delta_choice(request.kind, 0, text[sent:ready], first=first),))
                    sent, first = ready, False
                if stopped:
                    break
            await asyncio.to_thread(worker.join)
            if "error" in counted:
                raise server_error(f"local model {self.files.base_dir}: generation failed: {counted['error']}",
                                   code="backend_error")
            if not stopped and len(text) > sent:
                yield StreamPart((delta_choice(request.kind, 0, text[sent:], first=first),))
            finish = "stop" if stopped or counted.get("finished") else "length"
            usage = {"prompt_tokens": prompt_len, "completion_tokens": int(counted.get("tokens", 0))}
            yield StreamPart((delta_choice(request.kind, 0, None, finish, first=False),), usage=usage)
        finally:
            cancel.set()  # client gone or generator closed: stop at the next token

    async def aclose(self) -> None:
        self.model = None


def _next_or_none(streamer: Any) -> str | None:
    try:
        return next(streamer)
    except StopIteration:
        return None


def load_transformers(files: LocalModelFiles, **kwargs: Any) -> TransformersBackend:
    return TransformersBackend(files, **kwargs)
