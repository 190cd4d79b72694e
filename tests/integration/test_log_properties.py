"""Property tests of the event log (SQLite): replay equivalence and tamper detection."""
from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from contract.scenario import SLO_OK, to_production
from llmreg.registry.api import Registry
from llmreg.registry.errors import RegistryError
from llmreg.registry.events import Event, make_event

NAMES = ("app-a", "app-b")
ENVS = ("default", "eu")
ACTORS = ("alice", "bob", "carol")


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory):
    """A migrated empty store to copy per example (migrations run once)."""
    path = tmp_path_factory.mktemp("template") / "registry.db"
    Registry.open(f"sqlite:///{path}").close()
    return str(path)


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory):
    """Four versions of each name registered, gates configured: random ops then act on them."""
    path = tmp_path_factory.mktemp("seeded") / "registry.db"
    reg = Registry.open(f"sqlite:///{path}")
    reg.configure_gates({"eval_threshold": 0.8}, actor="admin")
    for name in NAMES:
        for n in range(4):
            _apply(reg, ("register", name, n))
    reg.close()
    return str(path)


def _fresh(template: str) -> tuple[Registry, str]:
    directory = tempfile.mkdtemp(prefix="llmreg-prop-")
    path = os.path.join(directory, "registry.db")
    shutil.copy(template, path)
    return Registry.open(f"sqlite:///{path}", artifacts=os.path.join(directory, "artifacts")), directory


name_st = st.sampled_from(NAMES)
version_st = st.integers(0, 3).map(lambda i: f"1.0.{i}")
env_st = st.sampled_from(ENVS)
actor_st = st.sampled_from(ACTORS)
OPS = st.one_of(
    st.tuples(st.just("register"), name_st, st.integers(0, 5)),
    st.tuples(st.just("promote"), name_st, version_st, st.sampled_from(("staging", "canary", "production")), env_st),
    st.tuples(st.just("archive"), name_st, version_st, env_st),
    st.tuples(st.just("review"), name_st, version_st, env_st, actor_st, st.sampled_from(("approve", "reject", "comment"))),
    st.tuples(st.just("approve"), name_st, version_st, env_st, actor_st, st.booleans()),
    st.tuples(st.just("evidence"), name_st, version_st, env_st, st.floats(0, 0.2)),
    st.tuples(st.just("eval"), name_st, version_st, st.floats(0, 1)),
    st.tuples(st.just("rollback"), name_st, env_st, st.one_of(st.none(), version_st)),
    st.tuples(st.just("walk"), name_st, version_st, env_st),
    st.tuples(st.just("release"), name_st, env_st),  # the next development version to production
    st.tuples(st.just("release"), name_st, env_st),
    st.tuples(st.just("rollback"), name_st, env_st, st.none()),
    st.tuples(st.just("pull"), name_st, env_st),
    st.tuples(st.just("gates"), st.floats(0.5, 0.99)),
)


def _apply(reg: Registry, op: tuple) -> None:
    kind, *args = op
    if kind == "register":
        name, n = args
        reg.register({"name": name, "model": "gpt-5-mini-2026-06-01", "params": {"n": n},
                      "eval": {"suite": "s", "score": 0.9, "run": "r", "segments": {"a": 0.9, "b": 0.88}}},
                     actor="alice")
    elif kind == "promote":
        reg.promote(args[0], args[1], args[2], args[3], actor="release-bot")
    elif kind == "archive":
        reg.archive(args[0], args[1], args[2], actor="release-bot")
    elif kind == "review":
        reg.review(args[0], args[1], args[2], actor=args[3], decision=args[4])
    elif kind == "approve":
        (reg.withdraw_approval if args[4] else reg.approve)(args[0], args[1], "production", args[2], actor=args[3])
    elif kind == "evidence":
        reg.record_evidence(args[0], args[1], args[2], "canary_slo", dict(SLO_OK, error_rate=args[3]), actor="slo")
    elif kind == "eval":
        reg.record_eval(args[0], args[1], {"suite": "s", "score": args[2], "run": "r2"}, actor="ci")
    elif kind == "rollback":
        reg.rollback(args[0], args[1], actor="oncall", to=args[2])
    elif kind == "walk":
        to_production(reg, args[1], args[2], name=args[0])
    elif kind == "pull":
        reg.pull_canary(args[0], args[1], actor="slo-guard")
    elif kind == "release":
        name, env = args
        fresh = [v for v in reg.versions(name) if reg.status(name).of(v, env) == "development"]
        if fresh:
            to_production(reg, fresh[0], env, name=name)
    elif kind == "gates":
        reg.configure_gates({"eval_threshold": args[0]}, actor="admin")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(OPS, min_size=5, max_size=40))
def test_rebuilding_from_the_log_gives_the_same_projection(seeded_store, ops):
    reg, directory = _fresh(seeded_store)
    try:
        for op in ops:
            try:
                _apply(reg, op)
            except RegistryError:
                pass  # refusals are part of the history too
        before = reg.store.dump_projection()
        assert reg.rebuild_projection() == reg.store.head_seq()
        assert reg.store.dump_projection() == before
        for name in NAMES:
            for env in ENVS:
                folded = {stage: held[0] for stage, held in reg.store.stages_at(name, env).items()}
                assert folded == {p.stage: p.version for p in reg.pointers(name, env)}
        report = reg.verify_audit()
        assert report.ok and report.events == reg.store.head_seq()
    finally:
        reg.close()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def history_store(empty_store, tmp_path_factory):
    """A store with a short real history and no append-only triggers (the tamperer's view)."""
    reg, directory = _fresh(empty_store)
    reg.configure_gates({"eval_threshold": 0.8}, actor="admin")
    for n in range(2):
        reg.register({"name": "app-a", "model": "gpt-5-mini-2026-06-01", "params": {"n": n}, "description": "ünïcode \"q\"",
                      "eval": {"suite": "s", "score": 0.9, "run": "r", "segments": {"a": 0.9, "b": 0.88}}}, actor="alice")
    to_production(reg, "1.0.0", "eu", name="app-a")
    reg.close()
    path = os.path.join(directory, "registry.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER events_append_only_update")
    conn.execute("DROP TRIGGER events_append_only_delete")
    count = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    conn.close()
    yield path, count
    shutil.rmtree(directory, ignore_errors=True)


COLUMNS = ("payload", "evidence", "hash", "prev_hash", "actor", "time", "type", "name", "version", "env")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_single_byte_change_to_a_stored_event_is_detected(history_store, data):
    template, count = history_store
    seq = data.draw(st.integers(1, count), label="seq")
    column = data.draw(st.sampled_from(COLUMNS), label="column")
    directory = tempfile.mkdtemp(prefix="llmreg-tamper-")
    path = os.path.join(directory, "registry.db")
    shutil.copy(template, path)
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.text_factory = bytes
        value = conn.execute(f"SELECT {column} FROM events WHERE seq = ?", (seq,)).fetchone()[0]
        assume(value is not None)
        position = data.draw(st.integers(0, len(value) - 1), label="position")
        new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != value[position]), label="byte")
        tampered = value[:position] + bytes([new_byte]) + value[position + 1:]
        conn.execute(f"UPDATE events SET {column} = CAST(? AS TEXT) WHERE seq = ?", (tampered, seq))
        conn.close()
        reg = Registry.open(f"sqlite:///{path}")
        try:
            report = reg.verify_audit()
        finally:
            reg.close()
        assert not report.ok
        assert report.first_bad_seq == seq, report.reason
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.binary(min_size=1, max_size=2000), min_size=1, max_size=4), data=st.data())
def test_any_single_byte_change_to_an_artifact_is_detected(tmp_path, files, data):
    from llmreg.registry.artifacts import ArtifactStore

    directory = tempfile.mkdtemp(prefix="llmreg-art-", dir=tmp_path)
    source = os.path.join(directory, "adapter")
    os.makedirs(source)
    for i, content in enumerate(files):
        with open(os.path.join(source, f"part-{i}.bin"), "wb") as fh:
            fh.write(content)
    store = ArtifactStore(os.path.join(directory, "store"))
    ref = store.put(source, "adapter", kind="adapter")
    assert store.verify(ref).ok
    index = data.draw(st.integers(0, len(files) - 1), label="file")
    position = data.draw(st.integers(0, len(files[index]) - 1), label="position")
    new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != files[index][position]), label="byte")
    target = os.path.join(store.object_path(ref.sha256), f"part-{index}.bin")
    os.chmod(target, 0o644)
    with open(target, "r+b") as fh:
        fh.seek(position)
        fh.write(bytes([new_byte]))
    check = store.verify(ref)
    assert not check.ok and check.actual != ref.sha256 and check.expected == ref.sha256


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(actor=st.text(min_size=1), type_=st.text(min_size=1), name=st.none() | st.text(), version=st.none() | st.text(),
       env=st.none() | st.text(), payload=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
       evidence=st.dictionaries(st.text(max_size=8), json_values, max_size=3), seq=st.integers(1, 10**12))
def test_stored_event_hash_is_sha256_of_canonical_json(actor, type_, name, version, env, payload, evidence, seq):
    assume(all("\ud800" > ch or ch > "\udfff" for text in (actor, type_, name or "", version or "", env or "")
               for ch in text))  # lone surrogates are not UTF-8: canonical_json refuses them too
    try:
        event, payload_json, evidence_json = make_event(seq=seq, time="2026-06-10T14:02:00.000000Z", actor=actor,
                                                        type=type_, name=name, version=version, env=env,
                                                        payload=payload, evidence=evidence, prev_hash="ab" * 32)
    except (UnicodeEncodeError, ValueError):
        assume(False)
    # the store's fast assembly equals the contract's definition over the whole event dict
    assert event.hash == event.computed_hash()
    assert Event.from_dict(event.to_dict()).computed_hash() == event.hash


def test_event_hash_golden_vector():
    """A fixed event has a fixed hash: sha256(prev_hash + canonical JSON of the event without
    its hash). Written out here so a change to the encoding cannot pass by agreeing with itself."""
    prev = "ab" * 32
    event, payload_json, evidence_json = make_event(
        seq=7, time="2026-06-10T14:02:00.000000Z", actor="alice", type="stage.promoted", name="support-triage",
        version="1.2.0", env="default", payload={"stage": "production", "weight": None, "from": "canary"},
        evidence={"approvers": ["bob", "carol"], "note": "ünïcode"}, prev_hash=prev)
    assert payload_json == '{"from":"canary","stage":"production","weight":null}'
    assert evidence_json == '{"approvers":["bob","carol"],"note":"ünïcode"}'
    assert event.hash == "3004b5b033b2d9f9c9c7335af80b222d88b159f71b6b780dca07047c1e53290f"
