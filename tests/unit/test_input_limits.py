"""Input past the registry's limits is one BadInput line naming the field and the limit.

Depth and integer size of documents, version parts (< 2**31) and their bumps, pre-release
and build parts (refused on purpose), times outside years 1000..9999 UTC, and a store whose
schema is newer than the code. The CLI cases check exit 2, one stderr line, no traceback
and no event written.
"""
from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmreg.registry.documents import load_document
from llmreg.registry.entry import parse_entry
from llmreg.registry.errors import BadInput
from llmreg.registry.fields import INT_MAX, INT_MIN, freeze
from llmreg.registry.resolve import parse_at
from llmreg.registry.semver import (
    PART_LIMIT,
    bump_version,
    coerce_version,
    next_version,
    parse_version,
)

ENTRY = {"name": "limits", "model": "gpt-5-mini-2026-06-01", "params": {"max_tokens": 300}}


# ---------------------------------------------------------------------- documents

def test_json_nested_100000_deep_is_one_line_naming_the_limit():
    text = '{"name": "x", "model": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(BadInput, match="entry.json: nested too deep to parse; .* limited to 32 levels") as info:
        load_document(text, source="entry.json", json_only=True)
    assert "\n" not in str(info.value)


def test_nesting_that_parses_is_still_bounded_with_the_field_named():
    deep = {"a": 1}
    for _ in range(40):
        deep = {"k": deep}
    with pytest.raises(BadInput, match=r"params(\.k)+: is nested deeper than 32 levels"):
        parse_entry(dict(ENTRY, params=deep))


@pytest.mark.parametrize("digits", [20, 4_000, 5_000, 100_000])
@pytest.mark.parametrize("json_only", [True, False])
def test_long_integers_are_refused_while_parsing_naming_line_key_and_limit(digits, json_only):
    text = json.dumps(ENTRY)[:-1] + ', "labels": {}, "card": {"budget": ' + "9" * digits + "}}"
    with pytest.raises(BadInput) as info:
        load_document(text, source="entry", json_only=json_only)
    message = str(info.value)
    assert f"line 1: budget: an integer of {digits} digits is outside 64-bit integers (-2**63 .. 2**63-1)" in message
    assert len(message) < 300


def test_integers_in_lists_name_their_line():
    with pytest.raises(BadInput, match="line 3: an integer of 25 digits is outside 64-bit"):
        load_document("name: x\nparams:\n  stops: [1, " + "7" * 25 + "]\n")


@pytest.mark.parametrize("value", [INT_MAX + 1, INT_MIN - 1, 10**5000, -(10**5000)],
                         ids=["2**63", "-2**63-1", "5001-digits", "-5001-digits"])
def test_integers_past_64_bits_given_through_the_api_name_the_field(value):
    with pytest.raises(BadInput, match="params.budget: .* is outside 64-bit integers") as info:
        parse_entry(dict(ENTRY, params={"budget": value}))
    assert len(str(info.value)) < 300


def test_64_bit_boundaries_are_accepted():
    assert freeze({"lo": INT_MIN, "hi": INT_MAX}, "params") == {"lo": INT_MIN, "hi": INT_MAX}
    text = f'{{"name": "x", "model": "gpt-5-mini-2026-06-01", "params": {{"hi": {INT_MAX}, "lo": {INT_MIN}}}}}'
    assert load_document(text, json_only=True)["params"] == {"hi": INT_MAX, "lo": INT_MIN}


# ---------------------------------------------------------------------- versions

@pytest.mark.parametrize("text", ["99999999999999999999.0.0", f"{PART_LIMIT}.0.0", f"1.{PART_LIMIT}.0",
                                  f"1.0.{PART_LIMIT}", "9" * 5000 + ".0.0"])
def test_version_parts_are_bounded(text):
    with pytest.raises(BadInput) as info:
        parse_version(text)
    assert info.value.field == "version" and len(str(info.value)) < 300
    assert str(PART_LIMIT) in str(info.value) or "not a semantic version" in str(info.value)


def test_the_largest_parts_are_accepted():
    top = PART_LIMIT - 1
    assert parse_version(f"{top}.{top}.{top}") == (top, top, top)
    assert coerce_version(top) == f"{top}.0.0"


@pytest.mark.parametrize(("version", "level"), [(f"{PART_LIMIT - 1}.0.0", "major"),
                                                (f"1.{PART_LIMIT - 1}.0", "minor"),
                                                (f"1.0.{PART_LIMIT - 1}", "patch")])
def test_a_bump_past_the_limit_is_bad_input(version, level):
    with pytest.raises(BadInput, match=f"a {level} bump of {version} would pass {PART_LIMIT - 1}"):
        bump_version(version, level)
    with pytest.raises(BadInput):
        next_version(version, level)


def test_a_bump_just_below_the_limit_reaches_it():
    assert bump_version(f"1.0.{PART_LIMIT - 2}", "patch") == f"1.0.{PART_LIMIT - 1}"


@pytest.mark.parametrize("text", ["1.0.0-rc.1+build", "1.0.0-rc.1", "1.0.0+build.5", "2.1.0-alpha"])
def test_pre_releases_and_build_metadata_are_refused_saying_so(text):
    with pytest.raises(BadInput, match="has a pre-release or build part; llm-registry versions are plain X.Y.Z"):
        parse_version(text)
    with pytest.raises(BadInput, match="pre-release or build part"):
        coerce_version(text)


@pytest.mark.parametrize("value", [PART_LIMIT, -1, 10**30, 10**5000], ids=["2**31", "-1", "10**30", "10**5000"])
def test_imported_numeric_versions_are_bounded(value):
    with pytest.raises(BadInput, match=f"0 .. {PART_LIMIT - 1}"):
        coerce_version(value)


# ---------------------------------------------------------------------- times

@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "0999-01-01T00:00:00Z",
                                "0999-12-31T23:59:59.999999Z", "1000-01-01T00:30:00+01:00", "0001-01-01",
                                1e20, -1e13])
def test_times_outside_the_stores_range_are_refused(at):
    with pytest.raises(BadInput, match="outside the times the registry holds, from 1000-01-01T00:00:00Z to "
                                       "9999-12-31T23:59:59.999999Z") as info:
        parse_at(at)
    assert info.value.field == "at"


@pytest.mark.parametrize(("at", "text"), [
    ("1000-01-01T00:00:00Z", "1000-01-01T00:00:00.000000Z"),
    ("1000-01-01T00:00:00-01:00", "1000-01-01T01:00:00.000000Z"),
    ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"),
    ("9999-12-31T23:59:59.999999+01:00", "9999-12-31T22:59:59.999999Z"),
])
def test_the_range_boundaries_are_accepted_and_sort_as_time(at, text):
    assert parse_at(at) == text
    assert parse_at("1000-01-01T00:00:00Z") < parse_at("2026-06-10T14:02:00Z") < parse_at("9999-12-31T23:59:59Z")


# ---------------------------------------------------------------------- the CLI: exit 2, one line, no write

def _cli(capsys, *argv):
    from llmreg.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _events(db) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


@pytest.fixture
def store(tmp_path, capsys):
    """A store holding limits@1.0.0 in production."""
    db = tmp_path / "registry.db"
    url = f"sqlite:///{db}"
    entry = tmp_path / "entry.json"
    entry.write_text(json.dumps(ENTRY))
    assert _cli(capsys, "register", str(entry), "--store", url, "--actor", "alice")[0] == 0
    return url, db, tmp_path


@pytest.mark.parametrize("argv", [
    ["register", "{entry2}", "--version", "99999999999999999999.0.0"],
    ["register", "{entry2}", "--version", "1.1.0-rc.1+build"],
    ["register", "{deep}"],
    ["register", "{bigint}"],
    ["resolve", "limits", "--stage", "production", "--at", "9999-12-31T23:59:59-01:00"],
    ["resolve", "limits", "--stage", "production", "--at", "0001-01-01T00:00:00+01:00"],
    ["resolve", "limits", "--stage", "production", "--at", "0999-01-01T00:00:00Z"],
])
def test_the_cli_answers_bad_input_in_one_line_and_writes_nothing(store, capsys, argv):
    url, db, folder = store
    (folder / "entry2.json").write_text(json.dumps(dict(ENTRY, params={"max_tokens": 301})))
    (folder / "deep.json").write_text('{"name": "limits", "model": ' + "[" * 100_000 + "]" * 100_000 + "}")
    (folder / "bigint.json").write_text(json.dumps(ENTRY)[:-1] + ', "card": {"n": ' + "9" * 5000 + "}}")
    argv = [a.format(entry2=folder / "entry2.json", deep=folder / "deep.json", bigint=folder / "bigint.json")
            for a in argv]
    before = _events(db)
    code, _, err = _cli(capsys, *argv, "--store", url, "--actor", "alice")
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "internal error" not in err
    assert _events(db) == before


def test_a_store_newer_than_the_code_says_it_needs_a_later_release(store, capsys):
    url, db, _ = store
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE llmreg_alembic_version SET version_num = '9999'")
    code, _, err = _cli(capsys, "list", "--store", url)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "has schema revision '9999', newer than llm-registry" in err
    assert "it needs a later llm-registry" in err
    with sqlite3.connect(db) as conn:  # nothing was migrated or written
        assert conn.execute("SELECT version_num FROM llmreg_alembic_version").fetchone()[0] == "9999"


# ---------------------------------------------------------------------- fuzz: a value or one BadInput line

_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                     max_leaves=40)


def _one_line(exc: BadInput) -> None:
    assert "\n" not in str(exc) and len(str(exc)) < 400


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.from_regex(r"\A[v0-9.+\-a-z]{0,40}\Z")))
def test_any_version_text_is_a_bounded_version_or_one_bad_input_line(text):
    try:
        parts = parse_version(text)
    except BadInput as exc:
        _one_line(exc)
    else:
        assert all(0 <= part < PART_LIMIT for part in parts)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(),
                 st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
                 st.from_regex(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d\Z")))
def test_any_time_is_store_text_that_sorts_as_time_or_one_bad_input_line(at):
    try:
        text = parse_at(at)
    except BadInput as exc:
        _one_line(exc)
    else:
        assert len(text) == 27 and "1000" <= text[:4] <= "9999" and text.endswith("Z")


@settings(max_examples=200, deadline=None)
@given(_JSON, st.booleans())
def test_any_json_document_loads_or_is_one_bad_input_line(value, json_only):
    text = json.dumps({"v": value})
    try:
        loaded = load_document(text, json_only=json_only)
        freeze(loaded, "doc")
    except BadInput as exc:
        _one_line(exc)


def test_yaml_integers_with_underscores_load_as_yaml_reads_them():
    # found by the CLI fuzz suite: "0_" is YAML 1.1 octal 0, not an internal error
    assert load_document("a: 0_\nb: 1_000\nc: -0_7") == {"a": 0, "b": 1000, "c": -7}
