"""Callers the gateway knows: API keys with scopes, stored hashed, created and revoked audited.

A key is `llmreg-<key_id>-<secret>`; only its SHA-256 is stored, so a leaked table serves
nobody. Each key has scopes:

- entries: entry names it may call (`*`: all);
- stages: which of production, canary, staging it may address (`NAME@canary`, ...);
- pinned: whether `NAME@1.2.0` may be called (a development, archived or rolled-back version
  is only reachable that way);
- choose_bucket: whether the caller may pick its own canary/experiment bucket
  (`X-LLMReg-Caller`, `llmreg.caller`, `user`); otherwise the bucket is the key's id.

The logic (hashing, scopes, checks) sits behind a small port, `KeyStore`: `MemoryKeyStore`
for unit tests, `SqlKeyStore` on the registry's database (tables `gateway_api_keys` and the
append-only `gateway_api_key_events`: who created or revoked which key, when, why). The
registry's hash-chained log does not yet have key events; when it does (`apikey.created`,
`apikey.revoked`), a `RegistryKeyStore` adapter replaces `SqlKeyStore` and nothing else moves.

Modes (gateway config `auth.mode`): `keys` (a valid key always required), `open` (never),
`auto` (required once any key has been created, even if all are revoked since: revoking
the last key must not open the gateway; until then open, which `llmreg serve` allows
only on a loopback address and announces at startup).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Protocol

from llmreg.registry.errors import BadInput, NotFound
from llmreg.serving.api_errors import ApiError

log = logging.getLogger("llmreg.gateway")

STAGES = ("production", "canary", "staging")
KEY_RE = re.compile(r"^llmreg-(?P<id>[0-9a-f]{12})-(?P<secret>[A-Za-z0-9_-]{20,})$")


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyScopes:
    entries: tuple[str, ...] = ("*",)
    stages: tuple[str, ...] = ("production",)
    pinned: bool = False
    choose_bucket: bool = False

    def __post_init__(self) -> None:
        if not self.entries:
            raise BadInput("entries: a key must be allowed at least one entry (or '*')", field="entries")
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
    digest: str
    name: str  # what or who the key is for
    scopes: KeyScopes = field(default_factory=KeyScopes)
    created_at: str = ""
    created_by: str = ""
    revoked_at: str | None = None
    revoked_by: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, Any]:
        """What `llmreg api-key list` shows: never the digest."""
        return {"key_id": self.key_id, "name": self.name, **self.scopes.to_dict(), "created_at": self.created_at,
                "created_by": self.created_by, "revoked_at": self.revoked_at, "revoked_by": self.revoked_by}


class KeyStore(Protocol):
    """The port: where keys live and where their creation and revocation are recorded."""

    def create(self, key: ApiKey) -> None: ...

    def revoke(self, key_id: str, *, actor: str, reason: str, at: str) -> ApiKey: ...

    def keys(self) -> list[ApiKey]: ...


def _now() -> str:
    from llmreg.serving.call_log import utc_now

    return utc_now()


def create_key(store: KeyStore, name: str, *, actor: str, scopes: KeyScopes | None = None) -> tuple[ApiKey, str]:
    """A new key: (record, secret). The secret is shown once and never stored."""
    if not name or len(name) > 200:
        raise BadInput("name: say what the key is for, at most 200 characters (e.g. checkout-service)", field="name")
    key_id = secrets.token_hex(6)
    secret = f"llmreg-{key_id}-{secrets.token_urlsafe(32)}"
    key = ApiKey(key_id, digest(secret), name, scopes or KeyScopes(), created_at=_now(), created_by=actor)
    store.create(key)
    return key, secret


def revoke_key(store: KeyStore, key_id: str, *, actor: str, reason: str = "") -> ApiKey:
    return store.revoke(key_id, actor=actor, reason=reason, at=_now())


class MemoryKeyStore:
    """In-memory store for unit tests; shares the contract tests with SqlKeyStore."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}
        self.events: list[dict[str, Any]] = []

    def create(self, key: ApiKey) -> None:
        self._keys[key.key_id] = key
        self.events.append({"action": "created", "key_id": key.key_id, "actor": key.created_by})

    def revoke(self, key_id: str, *, actor: str, reason: str, at: str) -> ApiKey:
        key = self._keys.get(key_id)
        if key is None:
            raise NotFound(f"no API key {key_id!r}; `llmreg api-key list` shows them")
        if not key.active:
            return key
        key = replace(key, revoked_at=at, revoked_by=actor)
        self._keys[key_id] = key
        self.events.append({"action": "revoked", "key_id": key_id, "actor": actor, "reason": reason})
        return key

    def keys(self) -> list[ApiKey]:
        return list(self._keys.values())


class SqlKeyStore:
    """Keys in the registry's database (SQLite or PostgreSQL), beside gateway_calls."""

    def __init__(self, store_url: Any):
        from sqlalchemy import Column, Integer, MetaData, Table, Text

        from llmreg.serving.call_log import make_engine

        self.engine = make_engine(store_url)
        meta = MetaData()
        self.table = Table("gateway_api_keys", meta, Column("key_id", Text, primary_key=True),
                           Column("digest", Text, nullable=False), Column("name", Text, nullable=False),
                           Column("scopes", Text, nullable=False), Column("created_at", Text, nullable=False),
                           Column("created_by", Text, nullable=False), Column("revoked_at", Text),
                           Column("revoked_by", Text))
        self.audit = Table("gateway_api_key_events", meta, Column("id", Integer, primary_key=True, autoincrement=True),
                           Column("time", Text, nullable=False), Column("action", Text, nullable=False),
                           Column("key_id", Text, nullable=False), Column("actor", Text, nullable=False),
                           Column("detail", Text))
        meta.create_all(self.engine, checkfirst=True)

    def create(self, key: ApiKey) -> None:
        with self.engine.begin() as conn:
            conn.execute(self.table.insert().values(
                key_id=key.key_id, digest=key.digest, name=key.name, scopes=json.dumps(key.scopes.to_dict()),
                created_at=key.created_at, created_by=key.created_by))
            conn.execute(self.audit.insert().values(time=key.created_at, action="created", key_id=key.key_id,
                                                    actor=key.created_by,
                                                    detail=json.dumps({"name": key.name, **key.scopes.to_dict()})))

    def revoke(self, key_id: str, *, actor: str, reason: str, at: str) -> ApiKey:
        with self.engine.begin() as conn:
            row = conn.execute(self.table.select().where(self.table.c.key_id == key_id)).mappings().first()
            if row is None:
                raise NotFound(f"no API key {key_id!r}; `llmreg api-key list` shows them")
            if row["revoked_at"] is None:
                conn.execute(self.table.update().where(self.table.c.key_id == key_id)
                             .values(revoked_at=at, revoked_by=actor))
                conn.execute(self.audit.insert().values(time=at, action="revoked", key_id=key_id, actor=actor,
                                                        detail=json.dumps({"reason": reason})))
        return next(k for k in self.keys() if k.key_id == key_id)

    def keys(self) -> list[ApiKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(self.table.select().order_by(self.table.c.created_at)).mappings().all()
        return [ApiKey(r["key_id"], r["digest"], r["name"], KeyScopes.from_dict(json.loads(r["scopes"])),
                       r["created_at"], r["created_by"], r["revoked_at"], r["revoked_by"]) for r in rows]

    def events(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(self.audit.select().order_by(self.audit.c.id)).mappings()]

    def close(self) -> None:
        self.engine.dispose()


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, code="invalid_api_key")


def forbidden(message: str, param: str | None = "model") -> ApiError:
    return ApiError(403, message, type="permission_error", param=param, code="forbidden")


class Authenticator:
    """Checks `Authorization: Bearer` against the keys, refreshed off the request path."""

    def __init__(self, mode: str = "auto", store: KeyStore | None = None, *, refresh_s: float = 1.0):
        self.mode = mode
        self.store = store
        self.refresh_s = refresh_s
        self._by_id: dict[str, ApiKey] = {}
        self._any_key = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if store is not None and mode != "open":
            self.refresh()

    @classmethod
    def from_config(cls, auth: Any, store_url: Any) -> "Authenticator":
        mode = getattr(auth, "mode", "auto")
        return cls(mode, None if mode == "open" else SqlKeyStore(store_url))

    @property
    def required(self) -> bool:
        return self.mode == "keys" or (self.mode == "auto" and self._any_key)

    def refresh(self) -> None:
        if self.store is None:
            return
        keys = self.store.keys()
        self._by_id = {k.key_id: k for k in keys}
        self._any_key = bool(keys)

    def start(self) -> "Authenticator":
        if self.store is not None and self.mode != "open":
            self._thread = threading.Thread(target=self._poll, name="llmreg-api-keys", daemon=True)
            self._thread.start()
        if not self.required:
            log.warning("gateway: running OPEN (auth.mode %s, no API key created): any caller may reach any entry; "
                        "create a key with `llmreg api-key create NAME` to require keys", self.mode)
        return self

    def _poll(self) -> None:
        while not self._stop.wait(self.refresh_s):
            try:
                self.refresh()
            except Exception as exc:  # noqa: BLE001 - keep the last known keys; say why
                log.warning("gateway: cannot refresh API keys (%s); keeping the last ones", exc)

    def stop(self) -> None:
        self._stop.set()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()

    # ------------------------------------------------------------------ request path
    def authenticate(self, headers: Mapping[str, str]) -> ApiKey | None:
        if not self.required:
            return None
        header = headers.get("authorization") or ""
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise unauthorized("You didn't provide an API key. Send it as 'Authorization: Bearer llmreg-...' "
                               "(create one with `llmreg api-key create NAME`).")
        match = KEY_RE.match(token)
        key = self._by_id.get(match.group("id")) if match else None
        if key is None or not hmac.compare_digest(key.digest, digest(token)):
            raise unauthorized(f"Incorrect API key provided: {token[:10]}...; check the key or create one with "
                               "`llmreg api-key create NAME`.")
        if not key.active:
            raise unauthorized(f"API key {key.key_id} was revoked at {key.revoked_at} by {key.revoked_by}; "
                               "use another key.")
        return key

    def check_entry(self, key: ApiKey | None, name: str) -> None:
        if key is not None and "*" not in key.scopes.entries and name not in key.scopes.entries:
            raise forbidden(f"API key {key.key_id} ({key.name}) may not call entry {name!r}; it may call "
                            f"{', '.join(key.scopes.entries)}")

    def check_target(self, key: ApiKey | None, target: Any) -> None:
        if key is None:
            return
        self.check_entry(key, target.name)
        if target.version is not None:
            if not key.scopes.pinned:
                raise forbidden(f"API key {key.key_id} ({key.name}) may not call pinned versions "
                                f"({target.name}@{target.version}); address a stage, e.g. {target.name}@production")
        elif target.stage not in key.scopes.stages:
            raise forbidden(f"API key {key.key_id} ({key.name}) may not reach stage {target.stage!r}; it may reach "
                            f"{', '.join(key.scopes.stages)}")

    def caller(self, key: ApiKey | None, explicit: str | None, user: str | None) -> str | None:
        """The key a canary or experiment split hashes. Open: the caller's own choice
        (X-LLMReg-Caller, llmreg.caller, user); with a key: the key id, unless the key may
        choose its bucket."""
        if key is None or key.scopes.choose_bucket:
            return explicit or user or (key.key_id if key else None)
        return key.key_id

