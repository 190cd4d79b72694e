"""Who is acting: the signing key, and the member it belongs to.

Every write is signed by its actor's ed25519 key (keys.py). Where the key comes from, first
match wins:

    Registry(..., keys=KeySource(key="~/.ssh/id_ed25519"))  # CLI --key FILE
    $LLMREG_KEYRING/<actor>.key   a folder of keys, one per identity the process may act as
                                  (a CI runner holding bot keys, a test harness); the actor
                                  name picks the file
    $LLMREG_SIGNING_KEY, else ~/.config/llmreg/signing_key (`llmreg keys new`)

The recorded actor is the member the key belongs to. With signers bound (roles.yaml
`signers:`, `llmreg roles set --signers FILE`), the key must be bound and the asserted actor
(`--actor`) must be its member, compared case-insensitively and recorded as the binding
spells it. Without signers (embedded mode) a key is bound to the first name it signs as,
for good: one key cannot act under two names, so "distinct approvers" are distinct keys.
A write that fails here is refused before its transaction writes anything: an
unauthenticated party cannot grow the log.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from llmreg.registry.errors import Unauthenticated

KEYRING_ENV = "LLMREG_KEYRING"


class KeySource:
    """Finds the signing key for an actor (see the module docstring for the order)."""

    # Called as on_missing(keyring_dir, actor) before a keyring has no file for `actor`
    # (tests set it to create one); None in normal use.
    on_missing: Callable[[str, str], None] | None = None

    def __init__(self, *, key: Any = None, keyring: str | None = None, env: Mapping[str, str] | None = None):
        self._env = os.environ if env is None else env
        self._explicit = key  # a path or a keys.SigningKey
        self._keyring = keyring
        self._cache: dict[str, Any] = {}

    @property
    def keyring(self) -> str | None:
        found = self._keyring or self._env.get(KEYRING_ENV)
        return os.path.expanduser(found) if found else None

    def key_for(self, actor: str):
        """The SigningKey that signs `actor`'s writes; Unauthenticated (one line) when none."""
        from llmreg.registry.errors import BadInput
        from llmreg.registry.keys import SigningKey, load_signing_key, read_private_key

        explicit = self._explicit
        if isinstance(explicit, SigningKey):
            return explicit
        try:
            if explicit:
                return self._load(os.path.expanduser(str(explicit)), read_private_key)
            ring = self.keyring
            if ring:
                path = os.path.join(ring, f"{actor}.key")
                cached = self._cache.get(path)
                if cached is not None:
                    return cached
                if not os.path.exists(path) and KeySource.on_missing is not None:
                    KeySource.on_missing(ring, actor)
                if os.path.exists(path):
                    return self._load(path, read_private_key)
                if not self._env.get("LLMREG_SIGNING_KEY"):
                    raise Unauthenticated(f"key: no key for {actor!r} in the keyring {ring} ({KEYRING_ENV}); add "
                                          f"{actor}.key there (`llmreg keys new --out {path}`) or pass --key FILE")
            return self._load_default(load_signing_key)
        except BadInput as exc:
            raise Unauthenticated(f"{exc} (every write is signed by its actor's key)") from None

    def _load(self, path: str, read):
        key = self._cache.get(path)
        if key is None:
            key = self._cache[path] = read(path, passphrase=self._env.get("LLMREG_KEY_PASSPHRASE"))
        return key

    def _load_default(self, load):
        key = self._cache.get("")
        if key is None:
            key = self._cache[""] = load(None, self._env)
        return key


def bound_signers(uow, cache: dict) -> Any:
    """The AllowedSigners bound as of the unit of work, or None in embedded mode. `cache` keeps
    the answer per head config seq (bindings change only with a config event)."""
    config_seq = uow.head.config_seq
    if config_seq in cache:
        return cache[config_seq]
    row = uow.config("signers")
    found = None
    if row and row[0]:
        from llmreg.registry.signers import AllowedSigners

        found = AllowedSigners.from_payload(row[0])
    cache.clear()
    cache[config_seq] = found
    return found


def authenticate(uow, asserted: str, key, signers, known: dict[str, str]) -> str:
    """The member `key` acts as, given the asserted actor name; Unauthenticated otherwise.
    `known`: fingerprint -> name bindings already seen in embedded mode (they never change)."""
    fp = key.fingerprint
    if signers is not None:
        member = signers.member_for(fp)
        if member is None:
            raise Unauthenticated(f"key {fp}: not bound to any member of this registry; an admin adds its public "
                                  "key (`llmreg keys show`) under your name in the roles' signers")
        if member.casefold() != asserted.casefold():
            raise Unauthenticated(f"actor {asserted!r}: the signing key {fp} is {member!r}'s; act as {member} "
                                  f"or sign with {asserted}'s own key")
        return member
    first = known.get(fp)
    if first is None:
        first = uow.signed_as(fp)
        if first is not None:
            known[fp] = first
    if first is not None and first != asserted:
        raise Unauthenticated(f"actor {asserted!r}: key {fp} already signs as {first!r} in this registry; one key is "
                              f"one identity: act as {first} or use {asserted}'s own key")
    return asserted
