"""The pinned base model of a release tuple: a dated provider snapshot, an hf commit, or a checksum.

The pin rule lives here (providers.py reuses it for snapshots): a floating alias
(``latest``, ``-latest``, branch names) or a hosted id without a date or version part names
whatever the provider serves today, so it is refused.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import BadInput
from .patterns import lazy_re
from .fields import as_sha256, as_str, as_token, check_keys, check_path_safe, fail, is_floating, show, type_name

PROVIDER_RE = lazy_re(r"^[a-z0-9][a-z0-9._-]{0,63}$")
COMMIT_RE = lazy_re(r"^[0-9a-f]{40}$")

# Providers whose models are files the registry can hash, not hosted snapshots.
HF_PROVIDERS = frozenset({"hf", "huggingface"})
KNOWN_PROVIDERS = frozenset(
    {
        "openai", "azure", "anthropic", "google", "vertex", "bedrock", "mistral", "cohere", "xai",
        "deepseek", "groq", "together", "fireworks", "vllm", "ollama", "local", "hf", "huggingface",
    }
)
_INFERRED_PROVIDERS = (
    (lazy_re(r"^(gpt-|chatgpt-|text-embedding-|davinci|babbage|ft:|o\d(-|$))"), "openai"),
    (lazy_re(r"^claude-"), "anthropic"),
    (lazy_re(r"^gemini-"), "google"),
    (lazy_re(r"^(open-)?(mistral|mixtral|codestral|ministral|pixtral|magistral|devstral)-"), "mistral"),
    (lazy_re(r"^command-"), "cohere"),
    (lazy_re(r"^grok-"), "xai"),
    (lazy_re(r"^deepseek-"), "deepseek"),
)
# A hosted model id is its own snapshot when it carries a date or version part.
_YEAR_TOKEN = lazy_re(r"^(?:19|20)\d{2}(?:\d{4})?$")  # 2026, 20241022
_TAIL_TOKEN = lazy_re(r"^(?:\d{3,4}|v\d+)$")  # 0613 / 2411 (MMDD / YYMM), 002, v1


def _set(obj: object, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


@dataclass(frozen=True, slots=True)
class ModelRef:
    """The base model, pinned: a dated provider snapshot, an hf commit, or a checksum."""

    provider: str
    id: str
    snapshot: str | None = None
    revision: str | None = None
    uri: str | None = None
    sha256: str | None = None
    architecture: str | None = None

    def __post_init__(self) -> None:
        provider = as_str(self.provider, "provider", max_len=64)
        if not PROVIDER_RE.match(provider):
            fail("provider", f"{show(provider)} must be lowercase letters, digits and ._- (e.g. 'openai', 'hf', 'local')")
        model_id = as_token(self.id, "id", max_len=256)
        snapshot = as_token(self.snapshot, "snapshot", optional=True)
        revision = as_token(self.revision, "revision", optional=True, max_len=128)
        if revision is not None and COMMIT_RE.match(revision.lower()):
            revision = revision.lower()  # commit shas are case-insensitive; store one spelling
        uri = as_str(self.uri, "uri", optional=True, max_len=2000)
        if uri is not None:
            check_path_safe(uri, "uri", relative_name=False)
        sha256 = as_sha256(self.sha256, "sha256", optional=True)
        architecture = as_str(self.architecture, "architecture", optional=True, max_len=200)
        for name, value in (("provider", provider), ("id", model_id), ("snapshot", snapshot), ("revision", revision), ("uri", uri), ("sha256", sha256), ("architecture", architecture)):
            _set(self, name, value)
        self._check_pinned()

    def _check_pinned(self) -> None:
        def example() -> str:  # only for the error messages
            return re.sub(r"[-:@_]latest$", "", self.id, flags=re.I) or "model"

        if is_floating(self.id) and not (self.snapshot and not is_floating(self.snapshot)):
            fail("id", f"{self.id!r} is a floating alias; pin a dated snapshot such as '{example()}-YYYY-MM-DD' (see the provider's model list)")
        if self.snapshot is not None and is_floating(self.snapshot):
            fail("snapshot", f"{self.snapshot!r} is a floating alias; pin a dated snapshot such as '{example()}-YYYY-MM-DD'")
        if self.revision is not None:
            if is_floating(self.revision):
                fail("revision", f"{self.revision!r} is a branch or alias, which moves; pin the 40-hex commit sha it points to now")
            if self.provider in HF_PROVIDERS and not COMMIT_RE.match(self.revision):
                if re.match(r"^[0-9a-fA-F]{4,39}$", self.revision):
                    fail("revision", f"{self.revision!r} is a short sha; give the full 40-hex commit sha")
                fail("revision", f"{self.revision!r} is not a commit sha; pin the 40-hex commit sha (a tag or branch can move)")
        if self.provider in HF_PROVIDERS:
            if self.revision is None:
                fail("revision", f"missing for hf model {self.id!r}; pin the 40-hex commit sha: model: {{provider: hf, id: {self.id}, revision: <sha>}}")
            return
        if self.provider == "local":
            if self.sha256 is None:
                fail("sha256", f"a local model is pinned by its checksum; add model.sha256 (64 hex, `sha256sum FILE`) for {self.id!r}")
            return
        if self.sha256 is not None or self.revision is not None:
            return  # content- or commit-pinned (e.g. vllm serving a checkpoint)
        if self.snapshot is not None and self.snapshot != self.id:
            return  # explicit snapshot
        if not _has_date_or_version(self.id):
            fail("id", f"{self.id!r} is not a pinned snapshot (no date or version in the id); pin a dated snapshot such as '{self.id}-YYYY-MM-DD' or set model.snapshot")

    @property
    def request_id(self) -> str:
        """The model name to send to the provider or server: the snapshot when set, else the id."""
        return self.snapshot or self.id

    def to_dict(self) -> dict[str, Any]:
        out = {"provider": self.provider, "id": self.id}
        for name in ("snapshot", "revision", "uri", "sha256", "architecture"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Any) -> "ModelRef":
        """A mapping {provider, id, snapshot|revision, uri, sha256, architecture} or the string shorthand."""
        if isinstance(data, ModelRef):
            return data
        if isinstance(data, str):
            return model_from_shorthand(data)
        if not isinstance(data, Mapping):
            fail("", f"expected a model id string or a mapping {{provider, id, ...}}, got {type_name(data)} {show(data)}")
        check_keys(data, ("provider", "id", "snapshot", "revision", "uri", "sha256", "architecture"), required=("provider", "id"))
        return cls(**data)


def _has_date_or_version(model_id: str) -> bool:
    tokens = [t for t in re.split(r"[-_@:/]", model_id) if t]
    if any(_YEAR_TOKEN.match(t) for t in tokens):
        return True
    return bool(tokens) and len(tokens) > 1 and bool(_TAIL_TOKEN.match(tokens[-1]))


def model_from_shorthand(text: str) -> ModelRef:
    """'gpt-5-mini-2026-06-01', 'anthropic:claude-…', 'hf:org/name@<sha>' or 'org/name@<sha>'."""
    text = as_token(text, "model")
    provider, rest = None, text
    head, sep, tail = text.partition(":")
    if sep and head in KNOWN_PROVIDERS and tail:
        provider, rest = head, tail
    if provider is None:
        for pattern, name in _INFERRED_PROVIDERS:
            if pattern.match(text):
                provider = name
                break
    if provider is None and "/" in text:
        provider = "hf"
    if provider is None:
        fail("model", f"cannot tell the provider of {text!r}; write 'provider:{text}' (openai:, anthropic:, google:, hf:, ...) or a mapping {{provider, id}}")
    try:
        if provider in HF_PROVIDERS:
            repo, _, revision = rest.partition("@")
            return ModelRef(provider=provider, id=repo, revision=revision or None)
        if provider == "local":
            return ModelRef(provider=provider, id=rest)
        # Written as a bare string the id must itself be the snapshot.
        if not is_floating(rest) and not _has_date_or_version(rest):
            fail("id", f"{rest!r} is not a pinned snapshot (no date or version in the id); pin a dated snapshot such as '{rest}-YYYY-MM-DD'")
        return ModelRef(provider=provider, id=rest, snapshot=rest)
    except BadInput as exc:
        if exc.field in ("id", "snapshot"):
            fail("model", exc.detail or str(exc))
        fail(f"model.{exc.field}", exc.detail or str(exc))


# A pinned reference: name@version (prompt, tools, policy, eval suite refs).
REF_RE = lazy_re(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._/:-]{0,199})@(?P<version>[A-Za-z0-9][A-Za-z0-9._+:-]{0,127})$")


def check_ref(value: Any, field_name: str) -> str | None:
    """A pinned reference 'name@version'; 'latest', 'main', 'head' and friends are refused."""
    ref = as_token(value, field_name, optional=True)
    if ref is None:
        return None
    match = REF_RE.match(ref)
    if match is None:
        base = ref.split("@", 1)[0] or "name"
        fail(field_name, f"{ref!r} is not a pinned reference; write it as 'name@version' (e.g. '{base}@v1')")
    if is_floating(match["version"]):
        fail(field_name, f"{ref!r} is a floating alias; pin a fixed version such as '{match['name']}@v1'")
    return ref
