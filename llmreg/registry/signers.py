"""Allowed signers: which member each public key speaks for.

The text form is git's `gpg.ssh.allowedSignersFile`, one key a line:

    alice ssh-ed25519 AAAAC3Nza... alice@laptop
    alice,alice-ci ssh-ed25519 AAAAC3Nza... (one key for two names is refused, see below)
    # comments and blank lines are skipped

In the registry (an event payload, roles.yaml) it is a plain mapping
`{member: ["ssh-ed25519 AAAA... comment", ...]}`; `to_payload`/`from_payload` and
`to_text`/`parse` are exact inverses.

Rules that make a key an identity: member names compare case-insensitively and each is
written one way only (no `alice` beside `ALICE`); a key belongs to exactly one member (one
person cannot be two approvers by listing one key under two names); names are plain
(no spaces, commas, quotes or the wildcards git would expand).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping

from llmreg.registry.errors import BadInput
from llmreg.registry.keys import KEY_TYPE, PublicKey

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}$")


def _check_name(name: str, source: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadInput(f"{source}: member name {str(name)[:40]!r} is not allowed; use letters, digits and "
                       "._@:+- (no spaces, commas, quotes or wildcards)", field="signers")
    return name


@dataclass(frozen=True)
class AllowedSigners:
    """Members and their keys; build with `parse`, `from_payload` or `from_bindings`."""

    members: Mapping[str, tuple[PublicKey, ...]] = field(default_factory=dict)
    _by_fold: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    _by_fp: Mapping[str, tuple[str, PublicKey]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_bindings(cls, bindings: Iterable[tuple[str, PublicKey]], *, source: str = "signers") -> "AllowedSigners":
        """(member, key) pairs in order -> AllowedSigners, enforcing the rules above."""
        members: dict[str, list[PublicKey]] = {}
        by_fold: dict[str, str] = {}
        by_fp: dict[str, tuple[str, PublicKey]] = {}
        for name, key in bindings:
            _check_name(name, source)
            written = by_fold.setdefault(name.casefold(), name)
            if written != name:
                raise BadInput(f"{source}: member {name!r} is also written {written!r}; names compare "
                               "case-insensitively, spell it one way", field="signers")
            owner = by_fp.get(key.fingerprint)
            if owner is not None:
                if owner[0] == name:
                    raise BadInput(f"{source}: key {key.fingerprint} is listed twice for {name!r}; "
                                   "remove one line", field="signers")
                raise BadInput(f"{source}: key {key.fingerprint} is bound to both {owner[0]!r} and {name!r}; "
                               "a key is one member's identity: give each member their own key", field="signers")
            by_fp[key.fingerprint] = (name, key)
            members.setdefault(name, []).append(key)
        return cls(MappingProxyType({n: tuple(k) for n, k in members.items()}),
                   MappingProxyType(by_fold), MappingProxyType(by_fp))

    @classmethod
    def parse(cls, text: str, *, source: str = "allowed signers") -> "AllowedSigners":
        """git's allowed-signers text -> AllowedSigners (options such as valid-after are refused)."""
        pairs = []
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            where = f"{source}:{number}"
            principals, _, rest = stripped.partition(" ")
            rest = rest.strip()
            if not rest.startswith(KEY_TYPE + " "):
                raise BadInput(f"{where}: expected 'name[,name] ssh-ed25519 AAAA... [comment]' (key options such "
                               "as namespaces= or valid-after= are not supported; remove them)", field="signers")
            key = PublicKey.parse(rest, source=where)
            for name in principals.split(","):
                pairs.append((_check_name(name, where), key))
        return cls.from_bindings(pairs, source=source)

    @classmethod
    def from_payload(cls, payload: Mapping[str, Iterable[str]], *, source: str = "signers") -> "AllowedSigners":
        """{member: [public key lines]} (the in-registry form) -> AllowedSigners."""
        if not isinstance(payload, Mapping):
            raise BadInput(f"{source}: expected a mapping of member -> list of 'ssh-ed25519 ...' lines",
                           field="signers")
        pairs = []
        for name, lines in payload.items():
            if isinstance(lines, str) or not isinstance(lines, (list, tuple)) or not lines:
                raise BadInput(f"{source}.{name}: expected a non-empty list of 'ssh-ed25519 AAAA...' lines",
                               field="signers")
            for index, line in enumerate(lines):
                pairs.append((name, PublicKey.parse(line, source=f"{source}.{name}[{index}]")))
        return cls.from_bindings(pairs, source=source)

    def to_payload(self) -> dict[str, list[str]]:
        return {name: [key.openssh() for key in keys] for name, keys in self.members.items()}

    def to_text(self) -> str:
        return "".join(f"{name} {key.openssh()}\n" for name, keys in self.members.items() for key in keys)

    def member_for(self, fingerprint: str) -> str | None:
        """The member (as written) whose key has this fingerprint, or None."""
        found = self._by_fp.get(fingerprint)
        return found[0] if found else None

    def public_key(self, fingerprint: str) -> PublicKey | None:
        found = self._by_fp.get(fingerprint)
        return found[1] if found else None

    def canonical_name(self, name: str) -> str | None:
        """`name` as the list writes it (case-insensitive match), or None when not a member."""
        return self._by_fold.get(str(name).casefold())

    def keys_of(self, name: str) -> tuple[PublicKey, ...]:
        written = self.canonical_name(name)
        return self.members[written] if written else ()

    def fingerprints(self) -> frozenset[str]:
        return frozenset(self._by_fp)

    def with_key(self, name: str, key: PublicKey) -> "AllowedSigners":
        """A copy with `key` added for `name` (key rotation adds the new key first)."""
        written = self.canonical_name(name) or name
        return AllowedSigners.from_bindings([*self._pairs(), (written, key)])

    def without_key(self, fingerprint: str) -> "AllowedSigners":
        """A copy with the key removed (revocation); refused if it is not listed."""
        if fingerprint not in self._by_fp:
            raise BadInput(f"signers: no key {fingerprint} is listed; `llmreg keys show` prints fingerprints",
                           field="signers")
        return AllowedSigners.from_bindings([(n, k) for n, k in self._pairs() if k.fingerprint != fingerprint])

    def _pairs(self) -> list[tuple[str, PublicKey]]:
        return [(name, key) for name, keys in self.members.items() for key in keys]

    def __len__(self) -> int:
        return len(self.members)


def read_allowed_signers(path: str) -> AllowedSigners:
    """An allowed-signers file (the same file git's gpg.ssh.allowedSignersFile can point at)."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise BadInput(f"signers {path}: no such file; list one 'name ssh-ed25519 AAAA...' line per key "
                       "(`llmreg keys show` prints yours)", field="signers") from None
    except (OSError, UnicodeError) as exc:
        raise BadInput(f"signers {path}: unreadable ({exc}); pass a UTF-8 text file", field="signers") from None
    return AllowedSigners.parse(text, source=path)
