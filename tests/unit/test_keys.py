"""Signing keys in OpenSSH formats, checked against the real `ssh-keygen` both ways."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess

import pytest

from llmreg.registry import keys
from llmreg.registry.errors import BadInput
from llmreg.registry.keys import PublicKey, SigningKey

needs_ssh_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None,
                                      reason="ssh-keygen is not installed (apt-get install openssh-client)")


def ssh_keygen(*args, stdin: bytes | None = None) -> str:
    done = subprocess.run(["ssh-keygen", *args], input=stdin, capture_output=True, check=True, timeout=60)
    return done.stdout.decode()


def keygen(path, *, passphrase="", kind="ed25519", comment="alice@laptop"):
    ssh_keygen("-q", "-t", kind, "-N", passphrase, "-C", comment, "-f", str(path))
    return str(path)


@needs_ssh_keygen
def test_reads_ssh_keygen_key_and_prints_its_fingerprint_like_ssh_keygen(tmp_path):
    path = keygen(tmp_path / "id_ed25519")
    key = keys.read_private_key(path)
    # "256 SHA256:... alice@laptop (ED25519)"
    expected = ssh_keygen("-l", "-f", path + ".pub").split()[1]
    assert key.fingerprint == expected and expected.startswith("SHA256:")
    pub_line = open(path + ".pub").read().strip()
    assert key.public.openssh() == pub_line
    assert key.public.comment == "alice@laptop"
    assert PublicKey.parse(pub_line).fingerprint == expected


@needs_ssh_keygen
def test_encrypted_key_needs_the_passphrase_from_the_environment(tmp_path):
    path = keygen(tmp_path / "enc", passphrase="correct horse")
    with pytest.raises(BadInput) as missing:
        keys.load_signing_key(path, env={})
    assert str(missing.value) == f"key {path}: is encrypted; set LLMREG_KEY_PASSPHRASE to its passphrase"
    with pytest.raises(BadInput, match="wrong passphrase in LLMREG_KEY_PASSPHRASE"):
        keys.load_signing_key(path, env={"LLMREG_KEY_PASSPHRASE": "battery staple"})
    key = keys.load_signing_key(path, env={"LLMREG_KEY_PASSPHRASE": "correct horse"})
    assert key.fingerprint == ssh_keygen("-l", "-f", path + ".pub").split()[1]


@needs_ssh_keygen
def test_a_key_written_by_llmreg_is_read_by_ssh_keygen(tmp_path):
    path = str(tmp_path / "cfg" / "llmreg" / "signing_key")
    key = keys.write_new_key(path, comment="bob@ci")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
    # ssh-keygen derives the same public key from our private key file...
    assert ssh_keygen("-y", "-f", path).split()[:2] == key.public.openssh().split()[:2]
    assert ssh_keygen("-l", "-f", path + ".pub").split()[1] == key.fingerprint
    # ...and we read it back to the same key, with the comment of the .pub beside it
    again = keys.read_private_key(path)
    assert again.fingerprint == key.fingerprint and again.public.comment == "bob@ci"
    with pytest.raises(BadInput, match="already exists"):
        keys.write_new_key(path)


@needs_ssh_keygen
def test_encrypted_key_written_by_llmreg_opens_with_ssh_keygen(tmp_path):
    path = str(tmp_path / "k")
    key = keys.write_new_key(path, passphrase="pw")
    assert ssh_keygen("-y", "-P", "pw", "-f", path).split()[1] == key.public.openssh().split()[1]
    assert keys.read_private_key(path, passphrase="pw").fingerprint == key.fingerprint


def test_refuses_a_key_readable_by_group_or_others(tmp_path):
    path = str(tmp_path / "k")
    keys.write_new_key(path)
    os.chmod(path, 0o644)
    with pytest.raises(BadInput) as info:
        keys.read_private_key(path)
    assert str(info.value) == (f"key {path}: permissions 0644 are too open (readable by group/others); "
                               f"run `chmod 600 {path}`")


@needs_ssh_keygen
def test_refuses_other_key_types_and_public_keys(tmp_path):
    ecdsa = keygen(tmp_path / "ecdsa", kind="ecdsa")
    with pytest.raises(BadInput, match="llmreg signs with ed25519"):
        keys.read_private_key(ecdsa)
    with pytest.raises(BadInput, match="not supported"):
        PublicKey.parse(open(ecdsa + ".pub").read())
    pub = str(tmp_path / "k.pub")
    keys.write_new_key(str(tmp_path / "k"))
    os.chmod(pub, 0o600)
    with pytest.raises(BadInput, match="that is a public key"):
        keys.read_private_key(pub)


def test_errors_are_one_line_naming_the_file_and_the_fix(tmp_path):
    missing = str(tmp_path / "nope")
    with pytest.raises(BadInput) as info:
        keys.read_private_key(missing)
    assert missing in str(info.value) and "llmreg keys new" in str(info.value) and "\n" not in str(info.value)
    junk = tmp_path / "junk"
    junk.write_text("hello\n")
    os.chmod(junk, 0o600)
    with pytest.raises(BadInput, match="not an OpenSSH private key"):
        keys.read_private_key(str(junk))
    for line, fix in [("ssh-ed25519", "expected 'ssh-ed25519 AAAA"), ("ssh-ed25519 !!!", "not valid base64"),
                      ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5", "not an ed25519 public key")]:
        with pytest.raises(BadInput, match=fix):
            PublicKey.parse(line)


def test_key_discovery_order(tmp_path):
    xdg = str(tmp_path / "xdg")
    default = os.path.join(xdg, "llmreg", "signing_key")
    env = {"XDG_CONFIG_HOME": xdg}
    assert keys.key_path(None, env) == (default, "default")
    assert keys.key_path(None, {**env, "LLMREG_SIGNING_KEY": "/k/env"}) == ("/k/env", "LLMREG_SIGNING_KEY")
    assert keys.key_path("/k/flag", {**env, "LLMREG_SIGNING_KEY": "/k/env"}) == ("/k/flag", "--key")
    assert keys.default_key_path({"HOME": "/h"}).endswith(os.path.join(".config", "llmreg", "signing_key"))
    with pytest.raises(BadInput, match="no signing key; create one with `llmreg keys new`"):
        keys.load_signing_key(None, env)
    made = keys.write_new_key(default)
    assert keys.load_signing_key(None, env).fingerprint == made.fingerprint
    other = keys.write_new_key(str(tmp_path / "other"))
    assert keys.load_signing_key(None, {**env, "LLMREG_SIGNING_KEY": other.path}).fingerprint == other.fingerprint


def test_sign_and_verify():
    key = SigningKey.generate("x")
    signature = key.sign(b"message")
    assert len(signature) == 64
    assert key.verify(b"message", signature) and key.public.verify(b"message", signature)
    assert not key.public.verify(b"messagE", signature)
    assert not SigningKey.generate().public.verify(b"message", signature)
    assert "PRIVATE" not in repr(key) and key.fingerprint in repr(key)


def test_signing_gives_the_same_bytes_with_or_without_pynacl(monkeypatch):
    # Ed25519 is deterministic: the libsodium path (fast-audit extra) and cryptography's agree
    import sys

    from llmreg.registry.keys import SigningKey

    key = SigningKey.generate()
    messages = [b"", b"x", bytes(range(256)) * 3]
    reference = [key._private.sign(m) for m in messages]
    assert [key.sign(m) for m in messages] == reference
    monkeypatch.setitem(sys.modules, "nacl.signing", None)  # PyNaCl not installed
    plain = SigningKey(key._private)
    assert [plain.sign(m) for m in messages] == reference
    assert all(key.verify(m, s) for m, s in zip(messages, reference, strict=True))
