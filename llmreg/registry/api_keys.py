"""Gateway API keys as registry state: the key record, its scopes, and its digest.

A key is `llmreg-<key_id>-<secret>`. The log records only its SHA-256 (`apikey.created`
{key_id, digest, label, scopes}) and its revocation (`apikey.revoked` {key_id, reason}),
both signed like every other event; the secret is shown once by whoever created it and is
never written anywhere. SHA-256 (not a slow password hash) is enough: the secret is 32
random bytes, so there is nothing to guess from a digest.

Scopes:
- entries: entry names it may call (`*`: all);
- stages: which of production, canary, staging it may address;
- pinned: whether `NAME@1.2.0` may be called (a development, archived or rolled-back
  version is only reachable that way);
- choose_bucket: whether the caller may pick its own canary/experiment bucket.

The `api_keys` projection table (store/projection.py) is folded from these events, so
`audit verify` checks it like every other table.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Mapping

from llmreg.registry.errors import BadInput
from llmreg.registry.events import APIKEY_CREATED, APIKEY_REVOKED

__all__ = ["APIKEY_CREATED", "APIKEY_REVOKED", "ApiKey", "KeyScopes", "digest", "new_secret"]
STAGES = ("production", "canary", "staging")
KEY_ID_RE = re.compile(r"^[0-9a-f]{12}$")
KEY_RE = re.compile(r"^llmreg-(?P<id>[0-9a-f]{12})-(?P<secret>[A-Za-z0-9_-]{20,})$")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> tuple[str, str]:
    """(key_id, secret) for a new key."""
    key_id = secrets.token_hex(6)
    return key_id, f"llmreg-{key_id}-{secrets.token_urlsafe(32)}"


@dataclass(frozen=True, slots=True)
class KeyScopes:
    entries: tuple[str, ...] = ("*",)
    stages: tuple[str, ...] = ("production",)
    pinned: bool = False
    choose_bucket: bool = False

    def __post_init__(self) -> None:
        if not self.entries or any(not isinstance(e, str) or not e for e in self.entries):
            raise BadInput("entries: a key must be allowed at least one entry name (or '*')", field="entries")
        bad = [s for s in self.stages if s not in STAGES]
        if bad or not self.stages:
            raise BadInput(f"stages: {bad[0] if bad else 'none'} is not a stage; choose from {', '.join(STAGES)}",
                           field="stages")

    def to_dict(self) -> dict[str, Any]:
        return {"entries": list(self.entries), "stages": list(self.stages), "pinned": self.pinned,
                "choose_bucket": self.choose_bucket}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "KeyScopes":
        return cls(tuple(data.get("entries", ("*",))), tuple(data.get("stages", ("production",))),
                   bool(data.get("pinned")), bool(data.get("choose_bucket")))


@dataclass(frozen=True, slots=True)
class ApiKey:
    key_id: str
    digest: str = field(repr=False)
    name: str  # what or who the key is for
    scopes: KeyScopes = field(default_factory=KeyScopes)
    created_at: str = ""
    created_by: str = ""
    revoked_at: str | None = None
    revoked_by: str | None = None
    reason: str | None = None
    created_seq: int = 0
    revoked_seq: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, Any]:
        """What `llmreg api-key list` shows: never the digest."""
        return {"key_id": self.key_id, "name": self.name, **self.scopes.to_dict(), "created_at": self.created_at,
                "created_by": self.created_by, "created_seq": self.created_seq, "revoked_at": self.revoked_at,
                "revoked_by": self.revoked_by, "revoked_seq": self.revoked_seq, "reason": self.reason}

    @classmethod
    def from_row(cls, row: tuple) -> "ApiKey":
        """A row of the api_keys table (COLUMNS order)."""
        (key_id, digest_, label, scopes, created_seq, created_at, created_by, revoked_seq, revoked_at,
         revoked_by, reason) = row
        return cls(key_id, digest_, label, KeyScopes.from_dict(json.loads(scopes)), created_at, created_by,
                   revoked_at, revoked_by, reason, created_seq, revoked_seq)


COLUMNS = ("key_id", "digest", "label", "scopes", "created_seq", "created_at", "created_by", "revoked_seq",
           "revoked_at", "revoked_by", "reason")


def check_label(label: Any) -> str:
    if not isinstance(label, str) or not label.strip() or len(label) > 200:
        raise BadInput("name: say what the key is for, at most 200 characters (e.g. checkout-service)", field="name")
    return label.strip()


def check_key_id(key_id: Any) -> str:
    if not isinstance(key_id, str) or not KEY_ID_RE.match(key_id):
        raise BadInput(f"key_id: {str(key_id)[:40]!r} is not a key id (12 hex characters, as `llmreg api-key list` "
                       "shows)", field="key_id")
    return key_id
