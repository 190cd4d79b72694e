"""register_many: several versions in one transaction, all of them or none, each with its
own signed event and its own bump; on SQLite, PostgreSQL and the memory store."""
from __future__ import annotations

import pytest

from contract.scenario import AUTHOR, NAME, spec, version_n
from llmreg.registry.errors import BadInput, Conflict, Forbidden


def events(reg) -> int:
    return reg.store.head_seq()


def test_a_batch_registers_each_entry_with_its_own_bump_and_signed_event(reg):
    first = reg.register(version_n(0), actor=AUTHOR)
    before = events(reg)
    other = spec(name="support-triage-eu")
    entries = reg.register_many([version_n(1), other, version_n(2), spec(params={"max_tokens": 302},
                                                                      tools_ref="triage-tools@v4")], actor=AUTHOR)
    assert [e.ref for e in entries] == [f"{NAME}@1.0.1", "support-triage-eu@1.0.0", f"{NAME}@1.0.2",
                                        f"{NAME}@1.1.0"]
    # A name registered twice in the batch diffs against the version the batch just wrote.
    assert [e.previous for e in entries] == [first.version, None, "1.0.1", "1.0.2"]
    assert entries[3].bump == "minor" and "tools_ref" in entries[3].bump_reason
    assert events(reg) == before + 4
    assert reg.get(NAME, "1.1.0").spec.digest == entries[3].spec.digest
    signed = [e for e in reg.events() if e.seq > before]
    assert [e.type for e in signed] == ["entry.registered"] * 4 and all(e.signature for e in signed)
    report = reg.verify_audit()
    assert report.ok, report.reason
    # The next single registration diffs against the batch's last version of the name.
    after = reg.register(spec(params={"max_tokens": 303}, tools_ref="triage-tools@v4"), actor=AUTHOR)
    assert (after.version, after.previous) == ("1.1.1", "1.1.0")


def test_a_bad_entry_anywhere_in_the_batch_writes_nothing(reg):
    reg.register(version_n(0), actor=AUTHOR)
    before = events(reg)
    with pytest.raises(Conflict, match="identical to 1.0.2"):  # the third repeats the second
        reg.register_many([version_n(1), version_n(2), version_n(2)], actor=AUTHOR)
    assert events(reg) == before
    assert reg.versions(NAME) == ["1.0.0"]
    with pytest.raises(BadInput, match="model"):
        reg.register_many([version_n(1), spec(model=None)], actor=AUTHOR)
    assert events(reg) == before


def test_a_refused_role_commits_only_its_refusal(reg):
    reg.configure_roles({"roles": {"admin": ["*"], "dev": ["register"]},
                         "members": {"admin": ["admin"], AUTHOR: ["dev"]}}, actor="admin")
    reg.register(version_n(0), actor=AUTHOR)
    before = events(reg)
    with pytest.raises(Forbidden):
        reg.register_many([version_n(1), spec(name="other")], actor="mallory")
    refused = [e for e in reg.events() if e.seq > before]
    assert [e.type for e in refused] == ["action.refused"]
    assert reg.versions(NAME) == ["1.0.0"]


def test_imports_and_empty_batches_are_refused(reg):
    with pytest.raises(BadInput, match="entries"):
        reg.register_many([], actor=AUTHOR)
    assert events(reg) == 0


def test_a_generator_is_a_batch_too_and_a_bad_item_is_named_by_position(reg):
    entries = reg.register_many((version_n(n) for n in range(2)), actor=AUTHOR)
    assert [e.version for e in entries] == ["1.0.0", "1.0.1"]
    with pytest.raises(BadInput, match=r"entry #2: .*model"):
        reg.register_many((s for s in [version_n(5), spec(model=None)]), actor=AUTHOR)
