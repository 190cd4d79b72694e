"""The audit's signature check: PyNaCl and cryptography paths agree (the fast one is optional)."""
from __future__ import annotations

import hashlib
import sys

import pytest

from llmreg.registry.audit_replay import checker as _checker
from llmreg.registry.keys import SigningKey
from llmreg.registry.signatures import sign_event_hash


@pytest.mark.parametrize("nacl", [True, False])
def test_both_verifiers_accept_the_signature_and_refuse_a_changed_hash(nacl, monkeypatch):
    if not nacl:
        monkeypatch.setitem(sys.modules, "nacl.signing", None)  # as if PyNaCl were not installed
    elif pytest.importorskip("nacl.signing") is None:
        pytest.skip("PyNaCl not installed")
    key, other = SigningKey.generate(), SigningKey.generate()
    digest = hashlib.sha256(b"event").hexdigest()
    signature, _ = sign_event_hash(key, digest)
    check = _checker(key.public)
    assert check(digest, signature)
    assert not check(hashlib.sha256(b"other").hexdigest(), signature)
    assert not _checker(other.public)(digest, signature)
    assert not check(digest, "not base64!")
    assert not check(digest, signature[:-4] + "AAA=")
