"""Callers the gateway knows: API keys with scopes, as registry state.

Keys are created and revoked with `llmreg api-key create|revoke` as signed `apikey.created`
/ `apikey.revoked` events (needs `configure`: the admin's action once roles are set); the
registry keeps only each key's SHA-256 and folds them into its `api_keys` projection
(llmreg/registry/api_keys.py has the record, the scopes and the digest). The gateway reads
them through a small port, `KeyStore`; `RegistryKeyStore` is its adapter over a `Registry`.

The request path never touches the database: `Authenticator` holds the keys in a dict and a
background thread polls the registry's head seq (every `refresh_s`, 0.2 s by default, as
the route table does) and reloads the keys when it moved, so a revocation stops the key
within the same ~1 s a promotion takes to reach traffic.

Modes (gateway config `auth.mode`): `keys` (a valid key always required), `open` (never),
`auto` (required once any key has been created, even if all are revoked since: revoking
the last key must not open the gateway; until then open, which `llmreg serve` allows
only on a loopback address and announces at startup).

Keys from before migration 0009 (tables gateway_api_keys / gateway_api_key_events) are not
accepted: they were never signed events, and a migration holds nobody's key to sign them
with. They still count as "a key was created" for `auto`, so upgrading does not open a
closed gateway, and their callers get 401 naming `llmreg api-key create`.
"""
from __future__ import annotations

import hmac
import logging
import threading
from typing import Any, Mapping, Protocol

from llmreg.registry.api_keys import KEY_RE, STAGES, ApiKey, KeyScopes, digest
from llmreg.serving.api_errors import ApiError

log = logging.getLogger("llmreg.gateway")

__all__ = ["STAGES", "ApiKey", "Authenticator", "KeyScopes", "KeyStore", "RegistryKeyStore", "create_key",
           "digest", "legacy_key_count", "revoke_key"]
LEGACY_TABLE = "gateway_api_keys"


class KeyStore(Protocol):
    """The port: where keys live and where their creation and revocation are recorded."""

    def create(self, name: str, *, actor: str, scopes: KeyScopes | None) -> tuple[ApiKey, str]: ...

    def revoke(self, key_id: str, *, actor: str, reason: str) -> ApiKey: ...

    def keys(self) -> list[ApiKey]: ...

    def marker(self) -> Any:
        """Changes whenever the keys may have changed (the registry's head seq)."""


class RegistryKeyStore:
    """Keys as registry state: writes are signed events, reads the api_keys projection."""

    def __init__(self, registry: Any):
        self.registry = registry

    def create(self, name: str, *, actor: str, scopes: KeyScopes | None = None) -> tuple[ApiKey, str]:
        return self.registry.create_api_key(name, actor=actor, scopes=scopes)

    def revoke(self, key_id: str, *, actor: str, reason: str = "") -> ApiKey:
        return self.registry.revoke_api_key(key_id, actor=actor, reason=reason)

    def keys(self) -> list[ApiKey]:
        return self.registry.api_keys()

    def marker(self) -> Any:
        return self.registry.store.head_seq()


def create_key(store: KeyStore, name: str, *, actor: str, scopes: KeyScopes | None = None) -> tuple[ApiKey, str]:
    """A new key: (record, secret). The secret is shown once and never stored."""
    return store.create(name, actor=actor, scopes=scopes)


def revoke_key(store: KeyStore, key_id: str, *, actor: str, reason: str = "") -> ApiKey:
    return store.revoke(key_id, actor=actor, reason=reason)


def legacy_key_count(store_url: Any) -> int:
    """Keys in the gateway's pre-0009 table (0 when it does not exist)."""
    import sqlalchemy as sa

    from llmreg.serving.call_log import make_engine

    engine = make_engine(store_url)
    try:
        if not sa.inspect(engine).has_table(LEGACY_TABLE):
            return 0
        with engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {LEGACY_TABLE}")).scalar() or 0)
    finally:
        engine.dispose()


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, code="invalid_api_key")


def forbidden(message: str, param: str | None = "model") -> ApiError:
    return ApiError(403, message, type="permission_error", param=param, code="forbidden")


class Authenticator:
    """Checks `Authorization: Bearer` against the keys, refreshed off the request path."""

    def __init__(self, mode: str = "auto", store: KeyStore | None = None, *, refresh_s: float = 0.2,
                 legacy_keys: int = 0):
        self.mode = mode
        self.store = store
        self.refresh_s = refresh_s
        self.legacy_keys = legacy_keys
        self._by_id: dict[str, ApiKey] = {}
        self._checked: dict[str, str] = {}  # bearer token -> key id, once its digest matched
        self._any_key = legacy_keys > 0
        self._marker: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if store is not None and mode != "open":
            self.refresh()

    @classmethod
    def from_config(cls, auth: Any, registry: Any, store_url: Any = None, *, refresh_s: float = 0.2) -> "Authenticator":
        mode = getattr(auth, "mode", "auto")
        if mode == "open":
            return cls(mode, None)
        url = getattr(getattr(registry, "store", None), "url", None) or store_url
        legacy = legacy_key_count(url) if url is not None else 0
        if legacy:
            log.warning("gateway: %d API key(s) in the pre-0009 table %s are no longer accepted (they were never "
                        "signed registry events); re-create the ones still needed with `llmreg api-key create`",
                        legacy, LEGACY_TABLE)
        return cls(mode, RegistryKeyStore(registry), refresh_s=refresh_s, legacy_keys=legacy)

    @property
    def required(self) -> bool:
        return self.mode == "keys" or (self.mode == "auto" and self._any_key)

    def refresh(self, *, force: bool = True) -> bool:
        """Reload the keys (force, or when the store's marker moved); True if reloaded."""
        if self.store is None:
            return False
        marker = self.store.marker()
        if not force and marker == self._marker:
            return False
        keys = self.store.keys()
        self._by_id = {k.key_id: k for k in keys}  # one swap: a request sees the old dict or the new
        self._checked = {}  # a reload forgets every checked token: a revoked key is looked at again
        self._any_key = bool(keys) or self.legacy_keys > 0
        self._marker = marker
        return True

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
                self.refresh(force=False)
            except Exception as exc:  # noqa: BLE001 - keep the last known keys; say why
                log.warning("gateway: cannot refresh API keys (%s); keeping the last ones", exc)

    def stop(self) -> None:
        self._stop.set()

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
        checked = self._checked.get(token)
        if checked is not None:  # digest matched since the last reload: skip the regex and SHA-256
            key = self._by_id.get(checked)
            if key is not None and key.active:
                return key
        match = KEY_RE.match(token)
        key = self._by_id.get(match.group("id")) if match else None
        if key is None and match and self.legacy_keys:
            raise unauthorized(f"API key {match.group('id')} is not a registry key (keys made before this release are "
                               "no longer accepted); create a new one with `llmreg api-key create NAME`.")
        if key is None or not hmac.compare_digest(key.digest, digest(token)):
            raise unauthorized(f"Incorrect API key provided: {token[:10]}...; check the key or create one with "
                               "`llmreg api-key create NAME`.")
        if key.active and len(self._checked) < 100_000:
            self._checked[token] = key.key_id
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

