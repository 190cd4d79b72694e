"""OpenAI-compatible HTTP runner (OpenAI, vLLM's server, the project's gateway, ...).

Uses the official `openai` client with its own retries turned off: retries follow the
project's one policy (llmreg.registry.retry_policy, tenacity; the gateway's upstream calls
use the same), bounded, exponential, honour Retry-After, and every prompt ends as a Completion, with
`error` set when it finally failed, so one bad request never aborts an eval half-way.
The provider's reported model (`response.model`, e.g. a dated snapshot) is recorded so
reports say exactly which snapshot was evaluated.
"""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

from evals.runners.base import Completion, ProgressCallback, Runner, RunnerError
from llmreg.registry.retry_policy import RETRY_STATUSES, RetryPolicy, retrying

MODES = ("completions", "chat")


class _Malformed(Exception):
    """The server answered 2xx with a body that is not a completion."""


class OpenAIRunner(Runner):
    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        mode: str = "completions",
        max_tokens: int = 1,
        temperature: float = 0.0,
        params: dict[str, Any] | None = None,
        tools: Sequence[dict[str, Any]] = (),
        system_prompt: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        concurrency: int = 4,
        prompt_usd_per_1k_tokens: float | None = None,
        completion_usd_per_1k_tokens: float | None = None,
        progress: ProgressCallback | None = None,
        progress_every: int = 100,
        sleep: Callable[[float], None] = time.sleep,
    ):
        super().__init__(progress=progress, progress_every=progress_every)
        import openai

        if mode not in MODES:
            raise RunnerError(f"mode must be one of {MODES}, got {mode!r}: pass mode='completions' or 'chat'")
        if max_retries < 0 or concurrency < 1 or timeout_s <= 0:
            raise RunnerError(
                "max_retries must be >= 0, concurrency >= 1 and timeout_s > 0: fix the runner config"
            )
        key = api_key or os.environ.get(api_key_env)
        if not key:
            raise RunnerError(
                f"no API key: set {api_key_env} (or pass api_key; local servers accept any value, e.g. EMPTY)"
            )
        self.model, self.mode = model, mode
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        # An entry's params (any dialect), as llmreg.registry.generation maps them for the
        # gateway's upstreams: the eval sends what the gateway would send.
        from llmreg.registry.generation import canonical_params, openai_body

        self.params = {"max_tokens": max_tokens, "temperature": temperature, **canonical_params(params)}
        self.body = openai_body(self.params, tools)
        self.max_tokens, self.temperature = self.params["max_tokens"], self.params["temperature"]
        self.system_prompt = system_prompt
        self.timeout_s, self.max_retries = timeout_s, max_retries
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        self.policy = RetryPolicy(max_retries=max_retries, backoff_s=backoff_s, backoff_max_s=backoff_max_s)
        self.concurrency = concurrency
        self._prices = (prompt_usd_per_1k_tokens, completion_usd_per_1k_tokens)
        self._sleep = sleep
        self._openai = openai
        self.client = openai.OpenAI(
            api_key=key, base_url=self.base_url, timeout=timeout_s, max_retries=0
        )
        self._snapshots: set[str] = set()
        self._lock = threading.Lock()
        self.attempts = 0  # HTTP requests made, retries included

    def describe(self) -> dict[str, Any]:
        with self._lock:
            snapshots = sorted(self._snapshots)
        return {
            "runner": self.name,
            "provider_base_url": self.base_url,
            "model": self.model,
            "snapshots": snapshots,
            "mode": self.mode,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "params": dict(self.params),
        }

    def pricing(self) -> dict[str, float] | None:
        prompt, completion = self._prices
        if prompt is None and completion is None:
            return None
        return {
            "prompt_usd_per_1k_tokens": prompt or 0.0,
            "completion_usd_per_1k_tokens": completion or 0.0,
        }

    def generate(self, prompts: Sequence[str]) -> list[Completion]:
        progress = self._progress(len(prompts))

        def one(prompt: str) -> Completion:
            try:
                return self._complete(prompt)
            finally:
                progress.advance()

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="openai-runner") as pool:
            return list(pool.map(one, prompts))

    # -- one prompt -------------------------------------------------------------------

    def _complete(self, prompt: str) -> Completion:
        began = time.perf_counter()
        tries = 0

        def call() -> Any:
            nonlocal tries
            tries += 1
            with self._lock:
                self.attempts += 1
            return self._request(prompt)

        openai = self._openai
        try:
            response = retrying(self.policy, self._retryable, retry_after=_retry_after, sleep=self._sleep)(call)
        except openai.APITimeoutError:
            return self._failed(began, f"gave up after {tries} attempts: timed out after {self.timeout_s:g}s")
        except openai.APIConnectionError as exc:
            return self._failed(began, f"gave up after {tries} attempts: connection failed: {exc}")
        except openai.APIStatusError as exc:
            status = exc.status_code
            if status == 404:
                return self._failed(began, self._not_found(exc))
            if not self._retryable(exc):
                return self._failed(began, f"HTTP {status}: {_message(exc)}")
            return self._failed(began, f"gave up after {tries} attempts: HTTP {status}: {_message(exc)}")
        except Exception as exc:  # e.g. a body that is not JSON at all
            return self._failed(began, f"malformed response: {type(exc).__name__}: {exc}")
        try:
            return self._parse(response, began)
        except _Malformed as exc:
            return self._failed(began, f"malformed response: {exc}")
        except Exception as exc:
            return self._failed(began, f"malformed response: {type(exc).__name__}: {exc}")

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, self._openai.APIConnectionError):  # timeouts included
            return True
        if isinstance(exc, self._openai.APIStatusError):
            return exc.status_code in RETRY_STATUSES or exc.status_code >= 500
        return False

    def _request(self, prompt: str) -> Any:
        if self.mode == "chat":
            messages = [{"role": "user", "content": prompt}]
            if self.system_prompt:
                messages.insert(0, {"role": "system", "content": self.system_prompt})
            # extra_body: every field goes in the JSON as the gateway sends it, whatever the SDK types know
            return self.client.chat.completions.create(model=self.model, messages=messages, extra_body=self.body)
        body = {k: v for k, v in self.body.items() if k not in ("tools", "tool_choice")}
        if body.pop("logprobs", None):  # the legacy completions API spells it "logprobs: k"
            body["logprobs"] = int(body.pop("top_logprobs", 0) or 0)
        body.pop("top_logprobs", None)
        return self.client.completions.create(model=self.model, prompt=prompt, extra_body=body)

    def _parse(self, response: Any, began: float) -> Completion:
        if isinstance(response, (str, bytes)):
            raise _Malformed(f"expected a JSON completion, got text {str(response)[:80]!r}")
        choices = getattr(response, "choices", None)
        if not choices:
            raise _Malformed("no choices in the response body")
        choice = choices[0]
        text = choice.message.content if self.mode == "chat" else choice.text
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise _Malformed(f"completion text is {type(text).__name__}, not a string")
        usage = getattr(response, "usage", None)
        snapshot = getattr(response, "model", None)
        if isinstance(snapshot, str) and snapshot:
            with self._lock:
                self._snapshots.add(snapshot)
        return Completion(
            text=text,
            latency_ms=(time.perf_counter() - began) * 1000,
            prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
            completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        )

    def _failed(self, began: float, error: str) -> Completion:
        return Completion("", (time.perf_counter() - began) * 1000, 0, 0, error)

    def _not_found(self, exc: Exception) -> str:
        body = getattr(exc, "body", None)
        code = body.get("code") if isinstance(body, dict) else None
        if code == "model_not_found" or "model" in _message(exc).lower():
            return f"unknown model {self.model!r} at {self.base_url}: {_message(exc)}"
        return f"HTTP 404 at {self.base_url} (wrong base_url?): {_message(exc)}"


def _message(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    return str(getattr(exc, "message", None) or exc)


def _retry_after(exc: Exception) -> float | None:
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
