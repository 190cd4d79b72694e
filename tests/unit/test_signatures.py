"""Event signatures are SSHSIGs: `ssh-keygen -Y` accepts ours and we accept its own."""
from __future__ import annotations

import base64
import shutil
import struct
import subprocess

import pytest

from llmreg.registry import keys, signatures
from llmreg.registry.signatures import sign_event_hash, verify_event_signature

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None,
                                      reason="ssh-keygen is not installed (apt-get install openssh-client)")
HASH = "3f" * 32


def test_sign_event_hash_round_trip():
    key = keys.SigningKey.generate()
    signature, fingerprint = sign_event_hash(key, HASH)
    assert fingerprint == key.fingerprint and len(base64.b64decode(signature)) == 64
    assert verify_event_signature(key.public, HASH, signature)
    assert verify_event_signature(key.public.openssh(), HASH, signature)
    assert verify_event_signature(key.public.crypto_key(), HASH, signature)
    assert not verify_event_signature(key.public, "40" * 32, signature)  # another event
    assert not verify_event_signature(keys.SigningKey.generate().public, HASH, signature)  # another key
    assert not verify_event_signature(key.public, HASH, signature[:-4] + "AAA=")
    assert not verify_event_signature(key.public, HASH, "not base64!")
    assert not verify_event_signature(key.public, "short", signature)
    # the namespace separates uses: an event signature is no checkpoint signature
    assert not signatures.verify(key.public, signatures.CHECKPOINT_NAMESPACE, HASH.encode(), signature)


@needs_ssh_keygen
def test_ssh_keygen_accepts_our_event_signature(tmp_path):
    key = keys.SigningKey.generate()
    signature, _ = sign_event_hash(key, HASH)
    sig_file = tmp_path / "event.sig"
    sig_file.write_text(signatures.armor(key.public, signatures.EVENT_NAMESPACE, signature))
    done = subprocess.run(["ssh-keygen", "-Y", "check-novalidate", "-n", "llmreg-event", "-s", str(sig_file)],
                          input=HASH.encode(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert key.fingerprint in done.stdout.decode()
    wrong = subprocess.run(["ssh-keygen", "-Y", "check-novalidate", "-n", "llmreg-event", "-s", str(sig_file)],
                           input=("40" * 32).encode(), capture_output=True, timeout=60)
    assert wrong.returncode != 0


@needs_ssh_keygen
def test_we_accept_a_signature_made_by_ssh_keygen(tmp_path):
    path = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=60)
    message = tmp_path / "hash"
    message.write_text(HASH)
    subprocess.run(["ssh-keygen", "-Y", "sign", "-n", "llmreg-event", "-f", str(path), str(message)],
                   check=True, capture_output=True, timeout=60)
    armored = (tmp_path / "hash.sig").read_text().splitlines()
    blob = base64.b64decode("".join(line for line in armored if not line.startswith("-----")))
    # the last field of the SSHSIG blob is string(string("ssh-ed25519") + string(raw signature))
    raw = blob[-64:]
    assert struct.unpack(">I", blob[-68:-64])[0] == 64
    public = keys.PublicKey.parse((tmp_path / "id.pub").read_text())
    assert verify_event_signature(public, HASH, base64.b64encode(raw).decode())
    assert signatures.armor(public, "llmreg-event", base64.b64encode(raw).decode()).splitlines() == armored
