"""Gateway API keys: created and revoked as signed events (`configure`: the admin's action)."""
from __future__ import annotations

from dataclasses import dataclass

from llmreg.registry import api_keys as ak
from llmreg.registry.errors import Conflict, NotFound
from llmreg.registry.events import Event
from llmreg.registry.handlers.guard import Deps, authorize, check_actor
from llmreg.registry.store.port import UnitOfWork


@dataclass(frozen=True)
class CreateKey:
    key_id: str
    digest: str
    label: str
    scopes: ak.KeyScopes
    actor: str


@dataclass(frozen=True)
class RevokeKey:
    key_id: str
    reason: str
    actor: str


def create_command(label: str, key_id: str, digest: str, scopes: ak.KeyScopes | None, *, actor: str) -> CreateKey:
    return CreateKey(ak.check_key_id(key_id), digest, ak.check_label(label), scopes or ak.KeyScopes(),
                     check_actor(actor))


def revoke_command(key_id: str, reason: str, *, actor: str) -> RevokeKey:
    return RevokeKey(ak.check_key_id(key_id), str(reason or "")[:500], check_actor(actor))


def create_key(cmd: CreateKey, uow: UnitOfWork, deps: Deps) -> list[Event]:
    authorize(uow, deps, cmd.actor, "configure", name=None)
    if uow.api_key(cmd.key_id) is not None:  # 48 random bits: a clash is a retry, never an overwrite
        raise Conflict(f"key_id: {cmd.key_id} already exists; create the key again")
    payload = {"key_id": cmd.key_id, "digest": cmd.digest, "label": cmd.label, "scopes": cmd.scopes.to_dict()}
    return [uow.append(ak.APIKEY_CREATED, actor=cmd.actor, payload=payload)]


def revoke_key(cmd: RevokeKey, uow: UnitOfWork, deps: Deps) -> list[Event]:
    """Revoking a revoked key appends nothing (the first revocation stands)."""
    authorize(uow, deps, cmd.actor, "configure", name=None)
    key = uow.api_key(cmd.key_id)
    if key is None:
        raise NotFound(f"key_id: no API key {cmd.key_id!r}; `llmreg api-key list` shows them")
    if not key.active:
        return []
    return [uow.append(ak.APIKEY_REVOKED, actor=cmd.actor, payload={"key_id": cmd.key_id, "reason": cmd.reason})]
