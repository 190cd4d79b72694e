"""Signatures over event hashes and checkpoints, in the format git's SSH signing uses.

What is signed is the event's hash as its 64 ASCII hex characters; the hash covers
prev_hash, so one signature commits to the whole history before the event. The signature
is an SSHSIG (OpenSSH PROTOCOL.sshsig, what `git commit -S` with gpg.format=ssh and
`ssh-keygen -Y sign` make): ed25519 over

    "SSHSIG" || string(namespace) || string("") || string("sha512") || string(sha512(message))

The namespace separates uses: a signature made for an event (`llmreg-event`) cannot pass
as a checkpoint (`llmreg-checkpoint`) or a git commit (`git`), and the other way round.
The store keeps only the 64 raw signature bytes (base64) and the key fingerprint;
`armor()` rebuilds the full `-----BEGIN SSH SIGNATURE-----` block, so anyone can check one
with `ssh-keygen -Y check-novalidate -n llmreg-event -s FILE` (tests do).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from llmreg.registry.keys import KEY_TYPE, PublicKey, SigningKey

EVENT_NAMESPACE = "llmreg-event"
CHECKPOINT_NAMESPACE = "llmreg-checkpoint"
_HASH_ALG = "sha512"


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def signed_data(namespace: str, message: bytes) -> bytes:
    """The bytes ed25519 signs for `message` in `namespace` (PROTOCOL.sshsig)."""
    return (b"SSHSIG" + _string(namespace.encode()) + _string(b"") + _string(_HASH_ALG.encode())
            + _string(hashlib.sha512(message).digest()))


def sign(key: SigningKey, namespace: str, message: bytes) -> str:
    """base64 of the 64-byte signature."""
    return base64.b64encode(key.sign(signed_data(namespace, message))).decode("ascii")


def verify(public: PublicKey | Ed25519PublicKey, namespace: str, message: bytes, signature_b64: str) -> bool:
    """True when `signature_b64` is `public`'s signature of `message` in `namespace`."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError, TypeError):
        return False
    if len(signature) != 64:
        return False
    crypto = public.crypto_key() if isinstance(public, PublicKey) else public
    try:
        crypto.verify(signature, signed_data(namespace, message))
    except InvalidSignature:
        return False
    return True


def _hash_message(hash_hex: str) -> bytes:
    if len(hash_hex) != 64:
        raise ValueError(f"an event hash is 64 hex characters, got {len(hash_hex)}")
    return hash_hex.encode("ascii")


def sign_event_hash(key: SigningKey, hash_hex: str) -> tuple[str, str]:
    """(signature base64, signer fingerprint) for the event whose hash is `hash_hex`."""
    return sign(key, EVENT_NAMESPACE, _hash_message(hash_hex)), key.fingerprint


def verify_event_signature(public_key: PublicKey | Ed25519PublicKey | str, hash_hex: str, signature: str) -> bool:
    """True when `signature` (base64) is `public_key`'s signature of the event hash.

    Pass a PublicKey (or its cached `crypto_key()`) on a hot loop: parsing the line costs more
    than the check."""
    if isinstance(public_key, str):
        public_key = PublicKey.parse(public_key)
    try:
        message = _hash_message(hash_hex)
    except (ValueError, UnicodeError, TypeError):
        return False
    return verify(public_key, EVENT_NAMESPACE, message, signature)


def armor(public: PublicKey, namespace: str, signature_b64: str) -> str:
    """The `-----BEGIN SSH SIGNATURE-----` block that `ssh-keygen -Y` reads."""
    raw = base64.b64decode(signature_b64)
    blob = (b"SSHSIG" + struct.pack(">I", 1) + _string(public.wire) + _string(namespace.encode())
            + _string(b"") + _string(_HASH_ALG.encode()) + _string(_string(KEY_TYPE.encode()) + _string(raw)))
    text = base64.b64encode(blob).decode("ascii")
    lines = [text[i:i + 70] for i in range(0, len(text), 70)]
    return "-----BEGIN SSH SIGNATURE-----\n" + "\n".join(lines) + "\n-----END SSH SIGNATURE-----\n"
