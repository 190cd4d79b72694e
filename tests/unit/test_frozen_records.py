"""The records written without dataclasses (registry/frozen.py) behave as the frozen
dataclasses they replaced, and a Resolved answers from the stored entry before (and
exactly as) it builds the Entry."""
from __future__ import annotations

import copy
import pickle

import pytest

from llmreg.registry.events import Event, make_event
from llmreg.registry.model_ref import ModelRef
from llmreg.registry.resolve import Resolved, request_id
from llmreg.registry.store.connection import parse_url
from llmreg.registry.store.port import Head, Pointer

from .builders import make_entry


def _records():
    event, _, _ = make_event(seq=1, time="2026-06-01T00:00:00.000000Z", actor="alice", type="entry.registered",
                             name="x", version="1.0.0", payload={"a": [1, 2]})
    return [Head(3, "ab" * 32, "2026-06-01T00:00:00.000000Z", 1),
            Pointer("x", "default", "production", "1.0.0", None, 3, "2026-06-01T00:00:00.000000Z"),
            parse_url("sqlite:///r.db"), event]


@pytest.mark.parametrize("record", _records(), ids=lambda r: type(r).__name__)
def test_records_are_immutable_and_compare_by_value(record):
    field = type(record)._fields[0]
    with pytest.raises(AttributeError, match="immutable"):
        setattr(record, field, "other")
    with pytest.raises(AttributeError):
        record.not_a_field = 1
    if not isinstance(record, Event):  # an event's payload is a read-only mapping, which never pickled
        clone = pickle.loads(pickle.dumps(record))
        assert clone == record and clone is not record
    assert copy.copy(record) == record and copy.copy(record) is not record
    assert repr(record).startswith(type(record).__name__ + "(") and f"{field}=" in repr(record)


def test_equality_and_hash_follow_every_field():
    a = Pointer("x", "default", "production", "1.0.0", None, 3, "t")
    assert a == Pointer("x", "default", "production", "1.0.0", None, 3, "t")
    assert hash(a) == hash(Pointer("x", "default", "production", "1.0.0", None, 3, "t"))
    assert a != Pointer("x", "default", "production", "1.0.0", 0.5, 3, "t")
    assert a != ("x", "default", "production", "1.0.0", None, 3, "t")  # a record is not a tuple
    assert len({a, Pointer("x", "default", "production", "1.0.0", None, 3, "t")}) == 1


def test_an_event_round_trips_and_its_hash_still_holds():
    event = _records()[-1]
    assert Event.from_dict(event.to_dict()) == event
    assert event.computed_hash() == event.hash
    bare = Event(seq=2, time="t", actor="a", type="entry.registered", name=None, version=None, env=None)
    assert dict(bare.payload) == {} and dict(bare.evidence) == {}


def _resolved(entry, calls):
    def load():
        calls.append(1)
        return entry

    return Resolved(entry.name, entry.version, "default", "production", None, 7, entry.created_at, load,
                    document=entry.to_dict())


def test_resolved_answers_from_the_stored_entry_until_the_entry_is_needed():
    entry, calls = make_entry(), []
    resolved = _resolved(entry, calls)
    answer = resolved.to_dict()
    assert calls == []  # printed without building the value objects
    assert answer["spec"] == entry.spec.to_dict() and answer["model"] == entry.spec.model.request_id
    answer["spec"]["name"] = "changed"  # a caller's copy: the cached answer does not move
    assert resolved.document()["spec"]["name"] == entry.name
    assert resolved.params == entry.spec.params and calls == [1]
    assert resolved.model == entry.spec.model.request_id and calls == [1]  # built once
    assert resolved.to_dict() == Resolved(entry.name, entry.version, "default", "production", None, 7,
                                          entry.created_at, entry).to_dict()


def test_resolved_compares_and_copies_with_its_entry():
    entry = make_entry()
    lazy, eager = _resolved(entry, []), Resolved(entry.name, entry.version, "default", "production", None, 7,
                                                 entry.created_at, entry)
    assert lazy == eager
    assert lazy != Resolved(entry.name, entry.version, "eu", "production", None, 7, entry.created_at, entry)
    clone = copy.copy(lazy)
    assert clone == eager and clone.entry is entry


@pytest.mark.parametrize("model", [
    {"provider": "openai", "id": "gpt-4o-2024-08-06"},
    {"provider": "openai", "id": "gpt-4o", "snapshot": "gpt-4o-2024-08-06"},
    {"provider": "hf", "id": "acme/tiny", "revision": "a" * 40},
])
def test_request_id_of_a_stored_model_is_the_model_refs(model):
    assert request_id(ModelRef.from_dict(model).to_dict()) == ModelRef.from_dict(model).request_id
