"""Listing pages read stored entries as written (no re-validation) and agree with the
validated entries, on every backend."""
from __future__ import annotations

from contract.scenario import AUTHOR, NAME, spec, version_n


def test_pages_agree_with_the_entries(reg):
    for n in range(5):
        reg.register(version_n(n), actor=AUTHOR)
    reg.register(spec(name="aaa-first", model={"provider": "openai", "id": "gpt-5", "snapshot": "gpt-5-2026-07-01"}),
                 actor="bob")
    entries = reg.list_entries(NAME)
    rows, total = reg.version_page(NAME)
    assert total == 5
    assert rows == [{"version": e.version, "created_at": e.created_at, "author": e.author, "bump": e.bump,
                     "bump_reason": e.bump_reason} for e in entries]
    assert reg.version_page(NAME, 2, 3)[0] == rows[3:5]
    assert reg.version_page(NAME, 2, 6)[0] == []
    names, total = reg.name_page()
    assert total == 2
    assert names == [{"name": e.name, "latest": e.version, "versions": len(reg.versions(e.name)),
                      "model": e.spec.model.request_id} for e in reg.list_entries()]
    assert names[0]["model"] == "gpt-5-2026-07-01"
    assert reg.name_page(1, 1)[0] == names[1:]
