"""Signing keys: ed25519 in the OpenSSH formats people already use for git commit signing.

A private key is the file `ssh-keygen -t ed25519` writes (OpenSSH private key format,
unencrypted, or encrypted with the passphrase in $LLMREG_KEY_PASSPHRASE). A public key is
one `ssh-ed25519 AAAA... comment` line, and its fingerprint is `SHA256:...` exactly as
`ssh-keygen -l` prints it. The cryptography is `cryptography`'s; this module only reads,
writes and names keys, and turns every problem into one line naming the file and the fix.

Which key signs: `--key FILE`, else $LLMREG_SIGNING_KEY (a path), else the per-user
default `$XDG_CONFIG_HOME/llmreg/signing_key` (`~/.config/llmreg/signing_key`) that
`llmreg keys new` creates. Like ssh, a private key readable by group or others is refused.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Mapping

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from llmreg.registry.errors import BadInput

KEY_ENV = "LLMREG_SIGNING_KEY"
PASSPHRASE_ENV = "LLMREG_KEY_PASSPHRASE"
KEY_TYPE = "ssh-ed25519"
# The SSH wire encoding of an ed25519 public key is string("ssh-ed25519") + string(32 bytes);
# its SHA-256 is what `ssh-keygen -l` prints.
_WIRE_PREFIX = b"\x00\x00\x00\x0b" + KEY_TYPE.encode() + b"\x00\x00\x00\x20"
_NEW_KEY_HINT = "create one with `llmreg keys new` or `ssh-keygen -t ed25519 -f FILE`"


def _wire(raw: bytes) -> bytes:
    return _WIRE_PREFIX + raw


@lru_cache(maxsize=1024)  # asked on every signed write: one key, one hash
def fingerprint_of(raw: bytes) -> str:
    """`SHA256:<base64, no padding>` of the key's wire encoding, as `ssh-keygen -l` prints it."""
    digest = hashlib.sha256(_wire(raw)).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An ed25519 public key: its 32 raw bytes and the comment of its OpenSSH line."""

    raw: bytes
    comment: str = ""

    @classmethod
    def parse(cls, line: str, *, source: str = "public key") -> "PublicKey":
        """`ssh-ed25519 AAAA... [comment]` -> PublicKey; `source` names where it came from."""
        parts = str(line).strip().split(None, 2)
        if len(parts) < 2:
            raise BadInput(f"{source}: expected 'ssh-ed25519 AAAA... [comment]', found {str(line)[:40]!r}; "
                           "copy the line from `llmreg keys show` or the key's .pub file", field="public_key")
        if parts[0] != KEY_TYPE:
            raise BadInput(f"{source}: key type {parts[0][:30]!r} is not supported; llmreg signs with "
                           f"ed25519 ({_NEW_KEY_HINT})", field="public_key")
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError):
            raise BadInput(f"{source}: the key data is not valid base64; copy the whole "
                           "'ssh-ed25519 AAAA...' line again", field="public_key") from None
        if len(blob) != len(_WIRE_PREFIX) + 32 or not blob.startswith(_WIRE_PREFIX):
            raise BadInput(f"{source}: the key data is not an ed25519 public key; copy the whole "
                           "'ssh-ed25519 AAAA...' line again", field="public_key")
        return cls(blob[len(_WIRE_PREFIX):], parts[2].strip() if len(parts) > 2 else "")

    def openssh(self, *, comment: bool = True) -> str:
        """The `ssh-ed25519 AAAA... comment` line (without the comment if asked)."""
        line = KEY_TYPE + " " + base64.b64encode(_wire(self.raw)).decode("ascii")
        return f"{line} {self.comment}" if comment and self.comment else line

    @property
    def wire(self) -> bytes:
        return _wire(self.raw)

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.raw)

    def crypto_key(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.raw)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True when `signature` (64 raw bytes) is this key's signature of `message`."""
        try:
            self.crypto_key().verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class SigningKey:
    """A private ed25519 key and where it was read from (None for a fresh one)."""

    __slots__ = ("_private", "public", "path", "_sign")

    def __init__(self, private: Ed25519PrivateKey, *, comment: str = "", path: str | None = None):
        self._private = private
        self._sign: Any = None  # the signing function, chosen on first use (_signer)
        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public = PublicKey(raw, comment)
        self.path = path

    @classmethod
    def generate(cls, comment: str = "") -> "SigningKey":
        return cls(Ed25519PrivateKey.generate(), comment=comment)

    @property
    def fingerprint(self) -> str:
        return self.public.fingerprint

    def sign(self, message: bytes) -> bytes:
        """The 64-byte ed25519 signature of `message`."""
        sign = self._sign
        if sign is None:
            sign = self._sign = _signer(self._private)
        return sign(message)

    def verify(self, message: bytes, signature: bytes) -> bool:
        return self.public.verify(message, signature)

    def private_openssh(self, passphrase: bytes | None = None) -> bytes:
        """The key as `ssh-keygen` writes it (OpenSSH private key format)."""
        encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                      else serialization.NoEncryption())
        return self._private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                           encryption)

    def __repr__(self) -> str:  # never the private bytes
        return f"SigningKey({self.fingerprint}, path={self.path!r})"


def _signer(private: Ed25519PrivateKey) -> Callable[[bytes], bytes]:
    """libsodium's ed25519 (PyNaCl, the fast-audit extra) when installed, else cryptography's.
    Ed25519 signatures are deterministic (RFC 8032): both give the same 64 bytes; libsodium
    takes about half the CPU here, and every write signs one event."""
    try:
        from nacl.signing import SigningKey as NaclSigningKey
    except ImportError:
        return private.sign
    seed = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                 serialization.NoEncryption())
    fast = NaclSigningKey(seed)
    return lambda message: fast.sign(message).signature


def default_key_path(env: Mapping[str, str] | None = None) -> str:
    """`$XDG_CONFIG_HOME/llmreg/signing_key`, else `~/.config/llmreg/signing_key`."""
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "llmreg", "signing_key")


def key_path(explicit: str | None = None, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(path, where it came from): --key, then $LLMREG_SIGNING_KEY, then the per-user default."""
    env = os.environ if env is None else env
    if explicit:
        return os.path.expanduser(explicit), "--key"
    if env.get(KEY_ENV):
        return os.path.expanduser(env[KEY_ENV]), KEY_ENV
    return default_key_path(env), "default"


def load_signing_key(explicit: str | None = None, env: Mapping[str, str] | None = None) -> SigningKey:
    """The signing key found by `key_path`; BadInput (one line: the file and the fix) otherwise."""
    env = os.environ if env is None else env
    path, source = key_path(explicit, env)
    if source == "default" and not os.path.exists(path):
        raise BadInput(f"key {path}: no signing key; create one with `llmreg keys new`, or pass --key FILE "
                       f"or set {KEY_ENV}", field="key")
    return read_private_key(path, passphrase=env.get(PASSPHRASE_ENV))


def read_private_key(path: str, *, passphrase: str | None = None) -> SigningKey:
    """Read an OpenSSH ed25519 private key file, refusing one that group/others can read."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise BadInput(f"key {path}: not a regular file; pass the private key file", field="key")
        if st.st_mode & 0o077:
            raise BadInput(f"key {path}: permissions {stat.S_IMODE(st.st_mode):04o} are too open "
                           f"(readable by group/others); run `chmod 600 {path}`", field="key")
        with open(path, "rb") as handle:
            data = handle.read(64 * 1024)
    except FileNotFoundError:
        raise BadInput(f"key {path}: no such file; {_NEW_KEY_HINT}, or pass --key FILE", field="key") from None
    except PermissionError:
        raise BadInput(f"key {path}: cannot be read by this user; check its owner and permissions",
                       field="key") from None
    except IsADirectoryError:
        raise BadInput(f"key {path}: is a directory; pass the private key file", field="key") from None
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" not in data:
        hint = (" (that is a public key: pass the private key file, without .pub)"
                if data.lstrip().startswith(b"ssh-") else "")
        raise BadInput(f"key {path}: not an OpenSSH private key{hint}; {_NEW_KEY_HINT}", field="key")
    try:
        private = serialization.load_ssh_private_key(data, password=None)
    except TypeError:  # encrypted: "Password was not given but private key is encrypted"
        if not passphrase:
            raise BadInput(f"key {path}: is encrypted; set {PASSPHRASE_ENV} to its passphrase",
                           field="key") from None
        try:
            private = serialization.load_ssh_private_key(data, password=passphrase.encode("utf-8"))
        except ValueError:
            raise BadInput(f"key {path}: wrong passphrase in {PASSPHRASE_ENV}; set it to this key's passphrase",
                           field="key") from None
        except UnsupportedAlgorithm as exc:
            raise BadInput(f"key {path}: its encryption is not supported ({exc}); re-encrypt it with "
                           "`ssh-keygen -p -f FILE`", field="key") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise BadInput(f"key {path}: unreadable OpenSSH private key ({' '.join(str(exc).split())[:80]}); "
                       f"{_NEW_KEY_HINT}", field="key") from None
    if not isinstance(private, Ed25519PrivateKey):
        kind = type(private).__name__.replace("PrivateKey", "").lstrip("_") or "non-ed25519"
        raise BadInput(f"key {path}: is a {kind} key; llmreg signs with ed25519 ({_NEW_KEY_HINT})", field="key")
    return SigningKey(private, comment=_comment_beside(path, private), path=path)


def _comment_beside(path: str, private: Ed25519PrivateKey) -> str:
    """The comment of `path`.pub when that file holds this key's public half."""
    try:
        with open(path + ".pub", encoding="utf-8") as handle:
            public = PublicKey.parse(handle.readline(), source=path + ".pub")
    except (OSError, BadInput, UnicodeError):
        return ""
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return public.comment if public.raw == raw else ""


def write_new_key(path: str, *, comment: str = "", passphrase: str | None = None) -> SigningKey:
    """Create a key at `path` (0600, its folder 0700) and `path`.pub; never overwrites a key."""
    key = SigningKey.generate(comment)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        # O_EXCL: two `keys new` racing, or an existing key, never lose a private key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BadInput(f"key {path}: already exists; keep it, or pass --out FILE for a new one",
                       field="key") from None
    except OSError as exc:
        raise BadInput(f"key {path}: cannot create it ({exc.strerror}); pass --out FILE in a writable folder",
                       field="key") from None
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), 0o600)  # whatever the umask
        handle.write(key.private_openssh(passphrase.encode("utf-8") if passphrase else None))
    with open(path + ".pub", "w", encoding="utf-8") as handle:
        handle.write(key.public.openssh() + "\n")
    key.path = path
    return key
