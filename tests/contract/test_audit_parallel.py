"""`audit verify` on a large log checks signatures in worker processes (audit_replay.py); forced on
here for a small log, it must reach the same verdicts as the inline check, naming the same event."""
from __future__ import annotations

import base64

import pytest

from contract.backends import sql_only
from contract.test_trust_attacks import released, rewrite
from llmreg.registry.audit_replay import PARALLEL_MIN_ENV, WORKERS_ENV, workers_wanted


@pytest.fixture
def parallel(monkeypatch):
    monkeypatch.setenv(WORKERS_ENV, "2")
    monkeypatch.setenv(PARALLEL_MIN_ENV, "0")
    if not workers_wanted(1):
        pytest.skip("this process runs other threads: the audit checks signatures inline here")


def test_parallel_and_inline_audits_agree_on_an_untouched_log(reg, parallel, monkeypatch):
    sql_only(reg)
    released(reg)
    in_workers = reg.verify_audit()
    monkeypatch.setenv(WORKERS_ENV, "0")
    inline = reg.verify_audit()
    assert in_workers.ok and inline.ok, in_workers.summary()
    assert in_workers.to_dict() == inline.to_dict()


def test_a_forged_signature_is_named_by_the_parallel_audit(reg, backend, parallel, monkeypatch):
    """A signature swapped for another valid-looking one (signatures are not hashed): the worker
    flags it and the walk names exactly that event."""
    sql_only(reg)
    released(reg)
    target = reg.store.head_seq() // 2

    def edit(rows):
        raw = bytearray(base64.b64decode(rows[target - 1][12]))
        raw[0] ^= 1
        rows[target - 1][12] = base64.b64encode(bytes(raw)).decode("ascii")
    rewrite(backend, reg, edit, rehash=False)
    report = reg.verify_audit()
    assert not report.ok and report.first_bad_seq == target, report.summary()
    assert "does not verify" in report.reason
    monkeypatch.setenv(WORKERS_ENV, "0")
    assert reg.verify_audit().to_dict() == report.to_dict()
