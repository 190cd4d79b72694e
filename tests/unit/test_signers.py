"""Allowed signers: git's file shape, one key one member, names case-insensitive and unique."""
from __future__ import annotations

import pytest

from llmreg.registry.errors import BadInput
from llmreg.registry.keys import SigningKey
from llmreg.registry.signers import AllowedSigners

ALICE, ALICE2, BOB = (SigningKey.generate(c).public for c in ("alice@laptop", "alice@ci", "bob"))


def text() -> str:
    return (f"# team keys\n\nalice {ALICE.openssh()}\n"
            f"alice {ALICE2.openssh()}\n"
            f"Bob {BOB.openssh()}\n")


def test_parse_lookup_and_round_trips():
    signers = AllowedSigners.parse(text())
    assert signers.member_for(ALICE.fingerprint) == "alice"
    assert signers.member_for(ALICE2.fingerprint) == "alice"
    assert signers.member_for(BOB.fingerprint) == "Bob"
    assert signers.member_for(SigningKey.generate().fingerprint) is None
    assert signers.public_key(BOB.fingerprint) == BOB
    assert signers.canonical_name("BOB") == "Bob" and signers.canonical_name("carol") is None
    assert [k.fingerprint for k in signers.keys_of("ALICE")] == [ALICE.fingerprint, ALICE2.fingerprint]
    payload = signers.to_payload()
    assert payload == {"alice": [ALICE.openssh(), ALICE2.openssh()], "Bob": [BOB.openssh()]}
    assert AllowedSigners.from_payload(payload) == signers
    assert AllowedSigners.parse(signers.to_text()) == signers
    assert AllowedSigners.from_payload(AllowedSigners.parse(signers.to_text()).to_payload()).to_payload() == payload


def test_several_principals_on_one_line_are_one_key_for_two_names_and_refused():
    with pytest.raises(BadInput, match="bound to both 'alice' and 'carol'"):
        AllowedSigners.parse(f"alice,carol {ALICE.openssh()}\n")


def test_one_key_under_two_names_is_refused():
    with pytest.raises(BadInput) as info:
        AllowedSigners.from_payload({"alice": [ALICE.openssh()], "alice2": [ALICE.openssh()]})
    assert ALICE.fingerprint in str(info.value) and "give each member their own key" in str(info.value)


def test_names_compare_case_insensitively_and_are_written_one_way():
    with pytest.raises(BadInput, match="'ALICE' is also written 'alice'"):
        AllowedSigners.from_payload({"alice": [ALICE.openssh()], "ALICE": [BOB.openssh()]})


@pytest.mark.parametrize("name", ["", "a b", "al*ce", "'alice'", "-x", "a,b"])
def test_bad_names(name):
    with pytest.raises(BadInput, match="member name"):
        AllowedSigners.from_payload({name: [ALICE.openssh()]})


def test_parse_errors_name_the_line():
    with pytest.raises(BadInput, match=r"team:2: expected 'name\[,name\] ssh-ed25519"):
        AllowedSigners.parse(f"alice {ALICE.openssh()}\nbob namespaces=\"git\" {BOB.openssh()}\n", source="team")
    with pytest.raises(BadInput, match=r"team:1"):
        AllowedSigners.parse("alice ssh-ed25519 AAAA\n", source="team")
    with pytest.raises(BadInput, match="non-empty list"):
        AllowedSigners.from_payload({"alice": ALICE.openssh()})
    with pytest.raises(BadInput, match="listed twice"):
        AllowedSigners.from_payload({"alice": [ALICE.openssh(), ALICE.openssh()]})


def test_rotation_and_revocation():
    signers = AllowedSigners.from_payload({"alice": [ALICE.openssh()]})
    new = SigningKey.generate().public
    rotated = signers.with_key("ALICE", new).without_key(ALICE.fingerprint)
    assert rotated.member_for(new.fingerprint) == "alice"
    assert rotated.member_for(ALICE.fingerprint) is None
    assert signers.member_for(ALICE.fingerprint) == "alice"  # the original is unchanged
    with pytest.raises(BadInput, match="no key"):
        rotated.without_key(ALICE.fingerprint)


def test_read_allowed_signers_file(tmp_path):
    from llmreg.registry.signers import read_allowed_signers

    path = tmp_path / "allowed_signers"
    path.write_text(text())
    assert read_allowed_signers(str(path)) == AllowedSigners.parse(text())
    with pytest.raises(BadInput, match="no such file"):
        read_allowed_signers(str(tmp_path / "missing"))
