"""Registering again into the name this registry object registered last skips the latest-
version read (a round trip on PostgreSQL) only while nothing else was written since."""
from __future__ import annotations

from contract.scenario import AUTHOR, NAME, version_n


def counting(reg) -> list[str]:
    """Names whose latest version the store was asked for, from now on."""
    asked: list[str] = []
    original = reg.store.unit_of_work

    def unit_of_work():
        cm = original()

        class Counted:
            def __enter__(self):
                uow = cm.__enter__()
                inner = uow.latest_version
                uow.latest_version = lambda name: (asked.append(name), inner(name))[1]
                return uow

            def __exit__(self, *exc):
                return cm.__exit__(*exc)
        return Counted()

    reg.store.unit_of_work = unit_of_work
    return asked


def test_a_second_registration_reads_no_latest_version_when_nothing_was_written_since(open_registry):
    reg = open_registry()
    reg.register(version_n(0), actor=AUTHOR)
    asked = counting(reg)
    assert reg.register(version_n(1), actor=AUTHOR).version == "1.0.1"
    assert asked == []  # the head was this object's own registration of NAME


def test_a_write_in_between_sends_it_back_to_the_store(open_registry):
    reg, other = open_registry(), open_registry()
    reg.register(version_n(0), actor=AUTHOR)
    other.register(version_n(1), actor=AUTHOR)  # another writer moves the name on: 1.0.1
    asked = counting(reg)
    entry = reg.register(version_n(2), actor=AUTHOR)
    assert asked == [NAME]
    assert entry.version == "1.0.2" and entry.previous == "1.0.1"


def test_any_other_event_in_between_does_too(open_registry):
    reg = open_registry()
    reg.register(version_n(0), actor=AUTHOR)
    reg.configure_gates({"eval_threshold": 0.5}, actor="admin")  # head moves past the registration
    asked = counting(reg)
    assert reg.register(version_n(1), actor=AUTHOR).version == "1.0.1"
    assert asked == [NAME]
