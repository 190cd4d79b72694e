"""One retry policy for every OpenAI-compatible call the project makes: the gateway's
upstream calls and the evals' OpenAI runner both retry with tenacity, bounded and
exponential (`backoff_s * 2**attempt`, capped at `backoff_max_s`), honouring a server's
Retry-After (capped too), and only on what a retry can fix (timeouts, connection
failures, 408/409/429/5xx). A request's own 4xx is never retried.

Pure policy: tenacity is imported when a retrier is built, not by `llmreg.registry`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2  # attempts = max_retries + 1
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `attempt` (0-based)."""
        delay = min(self.backoff_max_s, self.backoff_s * (2 ** attempt))
        if retry_after is not None:
            delay = min(self.backoff_max_s, max(delay, retry_after))
        return delay


def _wait(policy: RetryPolicy, retry_after: Callable[[BaseException], float | None]) -> Callable[[Any], float]:
    def wait(state: Any) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        return policy.delay(state.attempt_number - 1, retry_after(exc) if exc is not None else None)

    return wait


def retrying(policy: RetryPolicy, should_retry: Callable[[BaseException], bool], *,
             retry_after: Callable[[BaseException], float | None] = lambda exc: None,
             sleep: Callable[[float], None] = time.sleep) -> Any:
    """A tenacity.Retrying for blocking calls (the eval runner)."""
    import tenacity

    return tenacity.Retrying(stop=tenacity.stop_after_attempt(policy.max_retries + 1),
                             wait=_wait(policy, retry_after), retry=tenacity.retry_if_exception(should_retry),
                             sleep=sleep, reraise=True)


def async_retrying(policy: RetryPolicy, should_retry: Callable[[BaseException], bool], *,
                   retry_after: Callable[[BaseException], float | None] = lambda exc: None) -> Any:
    """A tenacity.AsyncRetrying for the gateway's upstream calls."""
    import tenacity

    return tenacity.AsyncRetrying(stop=tenacity.stop_after_attempt(policy.max_retries + 1),
                                  wait=_wait(policy, retry_after), retry=tenacity.retry_if_exception(should_retry),
                                  reraise=True)
