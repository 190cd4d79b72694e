"""Fuzzing `llmreg` as a careless user or an attacker would: CLI arguments, entry files, store URLs.

Whatever the input, the command line answers with an exit code in {0, 1, 2}, never a
traceback, one line of error on stderr when it fails, and no write when it fails: bad input
(exit 2) leaves the log exactly as it was; a refusal (exit 1) may append only the refusal's
own record (gate results, action.refused), because refusals are audit events by design.

The seeds are the inputs issue 12 found escaping as internal errors or wrong answers.
`llmreg.cli.main` runs in-process (the console script's entry point: same argv, exit code,
stdout and stderr), against one real SQLite store per module.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sqlite3
import string
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmreg.cli import VERBS, main, verb_parser

NAME = "support-triage"
ENTRY = {"name": NAME, "model": "gpt-5-mini-2026-06-01", "prompt_ref": "triage-prompt@v9",
         "params": {"max_tokens": 300}, "eval": {"suite": "triage-eval-v4", "score": 0.94, "run": "run-1"}}
# What a refusal may still write: the gate results and the refused action, nothing else.
REFUSAL_RECORDS = {"gate.passed", "gate.failed", "action.refused"}
# Verbs the fuzzer leaves out: they start a server, run the pipeline or call provider APIs.
LEFT_OUT = {"serve", "reproduce", "providers discover", "providers qualify", "providers reevaluate", "metrics"}
FUZZED_VERBS = sorted(key for key in VERBS if key not in LEFT_OUT)
SETTINGS = settings(max_examples=int(os.environ.get("LLMREG_FUZZ_EXAMPLES", "40")), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Store:
    """One SQLite store with support-triage@1.0.0 in staging; runs `llmreg` against it."""

    def __init__(self, root: Path):
        self.root = root
        self.path = root / "store" / "registry.db"
        self.url = f"sqlite:///{self.path}"
        self.artifacts = str(root / "store" / "artifacts")
        self.files = root / "files"
        self.files.mkdir(parents=True)
        self.count = 0

    def write(self, text: str | bytes, suffix: str = ".yaml") -> str:
        self.count += 1
        path = self.files / f"doc-{self.count}{suffix}"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogateescape"))
        return str(path)

    def events(self) -> list[str]:
        conn = sqlite3.connect(self.path)
        try:
            return [row[0] for row in conn.execute("SELECT type FROM events ORDER BY seq")]
        finally:
            conn.close()

    def run(self, argv: list[str], *, store: str | None = None) -> tuple[int, str, str]:
        """Run argv (plus --store/--artifacts/--actor) and check every invariant of this suite."""
        full = [*argv, "--store", self.url if store is None else store, "--artifacts", self.artifacts, "--actor", "fuzz"]
        before = self.events()
        out, err = io.StringIO(), io.StringIO()
        # in the store's own folder: a fuzzed relative --out (audit export) must not land in the checkout
        with contextlib.chdir(self.files), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(full)
        stdout, stderr = out.getvalue(), err.getvalue()
        assert code in (0, 1, 2), f"llmreg {full}: exit {code}: {stderr.strip()}"
        assert "Traceback" not in stderr, stderr
        after = self.events()
        if code:
            assert len(stderr.strip().splitlines()) == 1, f"llmreg {full}: not one error line: {stderr!r}"
            assert after[:len(before)] == before
            added = set(after[len(before):])
            if code == 2:
                assert not added, f"llmreg {full}: bad input (exit 2) but wrote {sorted(added)}"
            else:
                assert added <= REFUSAL_RECORDS, f"llmreg {full}: refused but wrote {sorted(added)}"
        return code, stdout, stderr


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from llmreg.registry.api import Registry

    made = Store(tmp_path_factory.mktemp("fuzz"))
    with Registry.open(made.url, artifacts=made.artifacts) as reg:
        reg.configure_gates({"eval_threshold": 0.5}, actor="admin")
        reg.register(ENTRY, actor="alice")
        reg.promote(NAME, "1.0.0", "staging", actor="ci")
    return made


# ---------------------------------------------------------------------- seeds (issue 12)

DEEP = 100_000
HUGE_INT = "9" * 5000


def deep_json() -> str:
    return '{"name": "x", "model": "gpt-5-mini-2026-06-01", "params": {"a": ' + "[" * DEEP + "]" * DEEP + "}}"


SEED_FILES = {
    "json-100k-deep-array": ("[" * DEEP + "]" * DEEP, ".json"),
    "json-100k-deep-in-params": (deep_json(), ".json"),
    "json-thousands-digit-int": (json.dumps({**ENTRY, "name": "huge"})[:-1] + f', "seed": {HUGE_INT}}}', ".json"),
    "yaml-thousands-digit-int": (yaml.safe_dump({**ENTRY, "name": "huge-yaml"}) + f"seed: {HUGE_INT}\n", ".yaml"),
    "yaml-100k-deep-flow": ("a: " + "[" * DEEP + "]" * DEEP + "\n", ".yaml"),
}


@pytest.mark.parametrize("seed", sorted(SEED_FILES))
def test_seed_entry_files_are_bad_input(store, seed):
    text, suffix = SEED_FILES[seed]
    code, _, err = store.run(["register", store.write(text, suffix)])
    assert code == 2, err


DOCUMENT_VERBS = {
    "gates set": ["gates", "set", "@file"],
    "roles set": ["roles", "set", "@file"],
    "evidence": ["evidence", f"{NAME}@1.0.0", "@file", "--kind", "canary_slo"],
    "eval record": ["eval", "record", f"{NAME}@1.0.0", "@file"],
    "suite register": ["suite", "register", "@file"],
    "promote --evidence": ["promote", f"{NAME}@1.0.0", "--to", "canary", "--evidence", "@file"],
}


@pytest.mark.parametrize("verb", sorted(DOCUMENT_VERBS))
@pytest.mark.parametrize("document", ["json-100k-deep-array", "json-thousands-digit-int"])
def test_seed_documents_given_to_other_verbs_are_bad_input(store, verb, document):
    text, suffix = SEED_FILES[document]
    path = store.write(text, suffix)
    code, _, err = store.run([path if a == "@file" else a for a in DOCUMENT_VERBS[verb]])
    assert code == 2, err


SEED_ARGS = {
    "version-20-digits": (["register", "@entry", "--version", "99999999999999999999.0.0"], "version"),
    "at-year-9999-negative-offset": (["resolve", NAME, "--stage", "staging", "--at", "9999-12-31T23:59:59-01:00"], "at"),
    "at-year-1-positive-offset": (["resolve", NAME, "--stage", "staging", "--at", "0001-01-01T00:00:00+01:00"], "at"),
    "at-year-999": (["resolve", NAME, "--stage", "staging", "--at", "0999-01-01T00:00:00Z"], "at"),
    "audit-since-year-9999-negative-offset": (["audit", "log", "--since", "9999-12-31T23:59:59-01:00"], "since"),
    "limit-negative": (["audit", "log", "--limit", "-5"], "limit"),
    "limit-zero": (["audit", "log", "--limit", "0"], "limit"),
    "limit-thousands-of-digits": (["audit", "log", "--limit", HUGE_INT], "limit"),
    "weight-nan": (["promote", f"{NAME}@1.0.0", "--to", "canary", "--weight", "nan"], "weight"),
    "weight-inf": (["promote", f"{NAME}@1.0.0", "--to", "canary", "--weight", "inf"], "weight"),
}


@pytest.mark.parametrize("seed", sorted(SEED_ARGS))
def test_seed_arguments_are_bad_input_naming_the_field(store, seed):
    argv, field = SEED_ARGS[seed]
    argv = [store.write(yaml.safe_dump({**ENTRY, "name": f"seed-{seed}"})) if a == "@entry" else a for a in argv]
    code, _, err = store.run(argv)
    assert code == 2 and field in err, err


def test_seed_a_version_whose_next_bump_overflows(store):
    """The largest version part the registry accepts, then a major bump past it."""
    from llmreg.registry.semver import PART_LIMIT

    first = store.write(yaml.safe_dump({**ENTRY, "name": "overflow"}))
    code, _, err = store.run(["register", first, "--version", f"{PART_LIMIT - 1}.0.0"])
    assert code == 0, err
    second = store.write(yaml.safe_dump({**ENTRY, "name": "overflow", "model": "gpt-5-2026-06-01"}))
    code, _, err = store.run(["register", second])
    assert code == 2 and "version" in err, err


def test_seed_at_before_year_1000_is_refused_not_answered(store):
    """Years before 1000 once sorted after 2026 as text and answered with today's holder."""
    code, out, err = store.run(["resolve", NAME, "--stage", "staging", "--at", "0999-01-01T00:00:00Z", "--json"])
    assert code != 0 or json.loads(out)["version"] is None, out


# ---------------------------------------------------------------------- properties

def _options(key: str) -> list[tuple[str, object]]:
    """(option string, its choices or None) for the verb's own options (introspected from its parser)."""
    parser, _ = verb_parser(key)
    found = []
    for action in parser._actions:
        for option in action.option_strings:
            if option not in ("-h", "--help", "--store", "--artifacts", "--actor"):
                found.append((option, action.choices if action.nargs != 0 else False))
    return found


OPTIONS = {key: _options(key) for key in FUZZED_VERBS}
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=24)
TIMES = st.one_of(
    st.sampled_from(["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "0999-01-01T00:00:00Z",
                     "2026-06-10T14:02:00Z", "2026-13-40T25:61:61Z", "now", "", "T", "1e400"]),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.builds(lambda y, tz: f"{y:04d}-01-01T00:00:00{tz}", st.integers(0, 99999),
              st.sampled_from(["Z", "+14:00", "-12:00", "+23:59", ""])),
)
VERSIONS = st.one_of(
    st.sampled_from(["99999999999999999999.0.0", f"{2**63}.0.0", f"{2**63 - 1}.0.0", "1.0.0-rc.1+build", "01.2.3",
                     "1.2", "v1.2.3", "-1.0.0", "1.0.0.0", "1." + "9" * 5000 + ".0"]),
    st.tuples(st.integers(0, 2**70), st.integers(0, 10**6), st.integers(0, 10**6)).map(lambda t: "%d.%d.%d" % t),
)
NUMBERS = st.one_of(st.sampled_from(["-5", "0", "1", "nan", "inf", "-inf", "1e309", "0x10", HUGE_INT, "1_000"]),
                    st.integers(-(2**70), 2**70).map(str), st.floats().map(repr))
REFS = st.one_of(st.sampled_from([NAME, f"{NAME}@1.0.0", f"{NAME}@99999999999999999999.0.0", f"{NAME}@",
                                  "@1.0.0", "nope@1.0.0", f"{NAME}@1.0.0-rc.1"]),
                 st.builds(lambda n, v: f"{n}@{v}", st.text(string.ascii_lowercase + "-", min_size=1, max_size=12),
                           VERSIONS),
                 TEXT)
VALUES = {"--at": TIMES, "--since": TIMES, "--until": TIMES, "--version": VERSIONS, "--limit": NUMBERS,
          "--weight": NUMBERS, "--port": NUMBERS}


@st.composite
def cli_arguments(draw):
    key = draw(st.sampled_from(FUZZED_VERBS))
    argv = key.split()
    argv += draw(st.lists(REFS, max_size=2))
    for option, choices in draw(st.lists(st.sampled_from(OPTIONS[key]), max_size=4, unique=True)
                                if OPTIONS[key] else st.just([])):
        argv.append(option)
        if choices is False:
            continue
        if choices:
            argv.append(draw(st.one_of(st.sampled_from(sorted(choices)), TEXT)))
        else:
            argv.append(draw(VALUES.get(option, TEXT)))
    return argv


@SETTINGS
@given(argv=cli_arguments())
def test_any_arguments_exit_0_1_or_2_with_one_line_and_no_write_on_failure(store, argv):
    store.run(argv)


JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**80), 2**80), st.floats(allow_nan=False), TEXT),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=12,
)
FIELDS = ["name", "model", "prompt_ref", "params", "tools_ref", "policy_ref", "eval", "artifacts", "retrieval",
          "card", "training", "lineage", "version", "status", "approved_by", "gates", "datasets"]
ENTRY_DOCS = st.one_of(
    st.builds(lambda base, extra: {**base, **extra}, st.just(ENTRY),
              st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=3)),
    st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=6),
    JSON_VALUES,
)


@SETTINGS
@given(doc=ENTRY_DOCS, as_json=st.booleans(),
       extra=st.lists(st.sampled_from(["--bump", "--version", "--import-history", "--env"]), max_size=2, unique=True),
       version=VERSIONS)
def test_any_entry_file_registers_or_is_refused_cleanly(store, doc, as_json, extra, version):
    text = json.dumps(doc) if as_json else yaml.safe_dump(doc, allow_unicode=True)
    argv = ["register", store.write(text, ".json" if as_json else ".yaml")]
    for option in extra:
        argv += [option] if option == "--import-history" else [option, {"--bump": "major", "--env": "eu"}.get(
            option, version)]
    store.run(argv)
    store.run(["diff", f"{NAME}@1.0.0", argv[1]])


@SETTINGS
@given(raw=st.binary(max_size=200) | TEXT.map(str.encode))
def test_any_bytes_as_an_entry_file(store, raw):
    store.run(["register", store.write(raw)])


@SETTINGS
@given(data=st.data())
def test_any_store_url(store, data, tmp_path_factory):
    where = tmp_path_factory.mktemp("urls")
    url = data.draw(st.one_of(
        st.sampled_from(["", "sqlite://", "sqlite:///", "sqlite:///:memory:", "mysql://x/y", "file:///tmp/x.db",
                         "sqlite:////dev/null", f"sqlite:///{where}", f"sqlite:///{where}/a\x01b.db",
                         "postgresql+psycopg://nobody@127.0.0.1:1/none", "://", "sqlite:///" + "a/" * 200 + "x.db"]),
        TEXT.map(lambda t: f"sqlite:///{where}/{t}"),
        TEXT,
    ))
    verb = data.draw(st.sampled_from(["list", "show", "resolve", "audit log", "audit verify", "gates show"]))
    argv = verb.split() + ([NAME] if verb in ("show", "resolve") else [])
    with contextlib.chdir(where):  # a bare path is relative to the working folder: keep it in `where`
        code, _, err = store.run(argv, store=url)
    assert code in (1, 2) or (code == 0 and url == store.url), (url, err)
    # A read never creates a store: nothing new under the folder the URL points into.
    assert list(where.iterdir()) == [], (url, list(where.iterdir()))
