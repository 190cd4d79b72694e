"""Discovery: read a provider's `GET /v1/models` and sort what it lists.

The list is read with httpx (the transport the official `openai` client uses) rather than
`client.models.list()`, so a malformed body is reported as exactly that, and optional
per-model fields some providers add (deprecation/shutdown dates) are kept.

Sorting is by the registry's own pin rule (llmreg.registry.providers.check_snapshot): a listed id
in a followed family is a snapshot only when it is pinned (a date or version in the id);
floating aliases (`*-latest`) and bare family names (`gpt-4o`) are reported as aliases and
never recorded.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from evals.providers.config import FamilyConfig, ProviderConfig

_RETRY_STATUS = {408, 409, 429}  # and every 5xx: what the openai SDK and the eval runner retry
# Field names providers use for announced retirement dates (OpenAI-compatible servers
# differ); the first present wins.
_DEPRECATION_KEYS = ("deprecation_date", "deprecated_at", "deprecation")
_SHUTDOWN_KEYS = ("shutdown_date", "shutdown_at", "retirement_date", "retires_at", "sunset_date")
_INFO_KEYS = ("owned_by", "created", "root", "parent", "max_model_len")


class ProviderError(RuntimeError):
    """A provider answered badly or not at all; the message is one line naming the fix."""

    def __init__(self, provider: str, message: str):
        super().__init__(f"provider {provider}: {message}")
        self.provider = provider


@dataclass(frozen=True)
class ListedModel:
    id: str
    deprecation_date: Any = None
    shutdown_date: Any = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Sorted:
    """A provider's list sorted against its followed families."""

    snapshots: tuple[tuple[ListedModel, FamilyConfig], ...]
    aliases: tuple[tuple[str, str, str], ...]  # (model id, family, why it is not a snapshot)
    unfollowed: tuple[str, ...]


def list_models(provider: ProviderConfig, *, sleep: Callable[[float], None] = time.sleep,
                transport: Any = None) -> list[ListedModel]:
    """GET {base_url}/models with bounded retries (timeouts, connection errors, 429, 5xx).

    Raises ProviderError with one line: timed out, HTTP status, malformed JSON, wrong shape.
    """
    import httpx

    headers = {"Accept": "application/json"}
    key = provider.api_key()
    if provider.api_key_env is not None:
        headers["Authorization"] = f"Bearer {key}"
    url = provider.models_url
    attempt = 0
    with httpx.Client(timeout=provider.timeout_s, transport=transport, follow_redirects=False) as client:
        while True:
            retry_after = None
            try:
                response = client.get(url, headers=headers)
            except httpx.TimeoutException:
                problem = f"GET {url} timed out after {provider.timeout_s:g}s"
            except httpx.HTTPError as exc:
                problem = f"GET {url} failed: {type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status < 300:
                    return _parse(provider, url, response)
                if status in (401, 403):
                    raise ProviderError(provider.name, f"GET {url} -> HTTP {status} (authentication refused): check "
                                                       f"the key in {provider.api_key_env or 'api_key_env'}")
                if status == 404:
                    raise ProviderError(provider.name, f"GET {url} -> HTTP 404: no model list there; check "
                                                       "base_url (it usually ends in /v1)")
                if status not in _RETRY_STATUS and status < 500:
                    raise ProviderError(provider.name, f"GET {url} -> HTTP {status}: {_short(response.text)}")
                problem = f"GET {url} -> HTTP {status}: {_short(response.text)}"
                retry_after = _retry_after(response.headers.get("retry-after"))
            if attempt >= provider.max_retries:
                raise ProviderError(provider.name, f"{problem} (gave up after {attempt + 1} attempts)")
            delay = provider.backoff_s * (2**attempt)
            sleep(min(30.0, max(delay, retry_after or 0.0)))
            attempt += 1


def _parse(provider: ProviderConfig, url: str, response: Any) -> list[ListedModel]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderError(provider.name, f"GET {url} returned malformed JSON ({exc}): {_short(response.text)}") from None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise ProviderError(provider.name, f"GET {url} returned {_short(response.text)}, not a model list "
                                           '{"data": [{"id": ...}, ...]}: is base_url an OpenAI-compatible API?')
    models = []
    for index, item in enumerate(data):
        model_id = item.get("id") if isinstance(item, dict) else None
        if not isinstance(model_id, str) or not model_id.strip():
            raise ProviderError(provider.name, f"GET {url}: data[{index}] has no string id ({_short(repr(item))})")
        models.append(ListedModel(
            id=model_id,
            deprecation_date=next((item[k] for k in _DEPRECATION_KEYS if item.get(k) is not None), None),
            shutdown_date=next((item[k] for k in _SHUTDOWN_KEYS if item.get(k) is not None), None),
            info={k: item[k] for k in _INFO_KEYS if isinstance(item.get(k), (str, int, float)) and
                  not isinstance(item.get(k), bool)},
        ))
    return models


def sort_models(provider: ProviderConfig, models: list[ListedModel]) -> Sorted:
    """Followed snapshots, aliases (followed but floating/unpinned) and ids no family follows."""
    from llmreg.registry.errors import BadInput
    from llmreg.registry.providers import check_snapshot

    snapshots, aliases, unfollowed = [], [], []
    for model in models:
        family = provider.family_of(model.id)
        if family is None:
            unfollowed.append(model.id)
            continue
        try:
            check_snapshot(provider.name, model.id)
        except BadInput as exc:
            aliases.append((model.id, family.name, getattr(exc, "detail", None) or str(exc)))
            continue
        snapshots.append((model, family))
    return Sorted(tuple(snapshots), tuple(aliases), tuple(unfollowed))


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
