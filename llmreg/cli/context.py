"""What every `llmreg` verb shares: the common options, opening the store, output, and the
mapping from errors to exit codes (0 done, 1 refused, 2 bad input, 3 internal error).

Verb modules import from here, never from the dispatcher (`llmreg.cli`). This module
imports only argparse and the standard library: the registry is loaded when a verb opens it.
"""
from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False  # typing costs ~5 ms of every start: annotations only
if TYPE_CHECKING:
    from typing import Any, Callable

EXIT_OK, EXIT_REFUSED, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
ENV_HELP = "environment (deployment target such as default, eu, us); default: default"
STAGE_CHOICES = ("staging", "canary", "production")


class UsageError(Exception):
    """Bad command-line usage (mapped to exit 2, one line)."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit 2) instead of a usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def _get_formatter(self):
        # argparse builds a formatter for every add_argument; its default asks shutil for the
        # terminal width, and importing shutil loads bz2, lzma and zlib: a few ms of every start
        return self.formatter_class(prog=self.prog, width=terminal_columns() - 2)


def terminal_columns() -> int:
    """shutil.get_terminal_size().columns without shutil: $COLUMNS, the terminal, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", 0))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def positive_int(text: str) -> int:
    """argparse type for counts such as --limit: an integer >= 1 of sane length."""
    try:
        value = int(text) if len(text) <= 18 else None
    except ValueError:
        value = None
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a positive integer; e.g. 20")
    return value


def add_common(parser: argparse.ArgumentParser, *, writes: bool) -> None:
    """--store, --artifacts, --json and --actor, on every verb's parser."""
    group = parser.add_argument_group("common options")
    group.add_argument("--store", default=None,
                       help="store URL (sqlite:///path.db or postgresql+psycopg://...); default: $LLMREG_STORE "
                            "or .llmreg/registry.db")
    group.add_argument("--artifacts", default=None,
                       help="artifact store (directory or fsspec URL); default: $LLMREG_ARTIFACTS or artifacts/ "
                            "beside the SQLite file")
    group.add_argument("--json", action="store_true", help="machine-readable JSON on stdout")
    group.add_argument("--actor", default=None,
                       help="who is acting (recorded on the event); default: $LLMREG_ACTOR" if writes
                       else argparse.SUPPRESS)
    if writes:  # every write is signed by the actor's key (llmreg/registry/identity.py)
        group.add_argument("--key", dest="signing_key", default=None, help="private key that signs (ed25519, OpenSSH); default: "
                           "$LLMREG_KEYRING/ACTOR.key, $LLMREG_SIGNING_KEY, ~/.config/llmreg/signing_key")


# ---------------------------------------------------------------------- the store

def require_existing_store(args) -> None:
    """A read verb must not create a store: refuse (exit 2) when the SQLite file is missing.

    Checked before the store is opened, because opening a SQLite store creates its folder,
    its file and the schema.
    """
    from llmreg.registry.errors import BadInput
    from llmreg.registry.store.connection import default_url, parse_url

    url = parse_url(args.store)
    if url.path is not None and not os.path.isfile(url.path):
        given = args.store or default_url()
        where = given if given.endswith(url.path) else f"{given} ({url.path})"
        raise BadInput(f"store: no store at {where}; nothing was created. Pass --store or set LLMREG_STORE to "
                       "an existing store, or register an entry first", field="store")


def open_registry(args):
    """The verb's Registry; `main` closes every one a verb opened when the verb ends.

    Read-only verbs (marked in the command table) never create the store they read.
    """
    if getattr(args, "existing_store", False):
        require_existing_store(args)
    from llmreg.registry.api import Registry
    from llmreg.registry.identity import KeySource

    reg = Registry.open(args.store, artifacts=args.artifacts, keys=KeySource(key=getattr(args, "signing_key", None)))
    return _opened(args, reg)


def open_reads(args):
    """A read-only view of the store (RegistryReads) for verbs that never write: it loads the
    query side only, not the write handlers (`llmreg resolve`/`list` start-up)."""
    if getattr(args, "existing_store", False):
        require_existing_store(args)
    from llmreg.registry.read_facade import RegistryReads

    return _opened(args, RegistryReads.open(args.store, artifacts=args.artifacts))


def _opened(args, reg):
    opened = getattr(args, "opened", None)
    if opened is None:
        opened = args.opened = []
    opened.append(reg)
    return reg


def close_opened(args) -> None:
    opened, args.opened = getattr(args, "opened", None) or [], []
    for reg in reversed(opened):
        reg.close()


# ---------------------------------------------------------------------- input

def actor(args) -> str:
    actor_name = args.actor or os.environ.get("LLMREG_ACTOR")
    if not actor_name:
        from llmreg.registry.errors import BadInput

        raise BadInput("actor: who is acting? pass --actor NAME or set LLMREG_ACTOR (it is recorded on the event)",
                       field="actor")
    return actor_name


def parse_ref(text: str, *, version_required: bool = True) -> tuple[str, str | None]:
    """NAME@VERSION (or NAME alone when the version is optional)."""
    name, sep, version = text.partition("@")
    if not name or (sep and not version) or (version_required and not sep):
        from llmreg.registry.errors import BadInput

        raise BadInput(f"ref: {text!r} is not NAME@VERSION; e.g. support-triage@1.2.0", field="ref")
    return name, version or None


def read_mapping(path: str, what: str) -> dict:
    """A YAML/JSON file that must hold a mapping (evidence, roles, gates, suites, reports)."""
    from llmreg.registry.documents import read_document
    from llmreg.registry.errors import BadInput

    data = read_document(path, what)
    if not isinstance(data, dict):
        raise BadInput(f"{path}: the {what} file must hold a mapping (key: value)", field="path")
    return data


# ---------------------------------------------------------------------- output

def emit(args, data: Any, text: str | Callable[[], str]) -> None:
    """JSON on stdout with --json, else the human text (built only when needed)."""
    if args.json:
        import json

        print(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        print(text() if callable(text) else text)


# ---------------------------------------------------------------------- errors -> exit codes

_LABELS = (("GateFailed", "gate failed"), ("Forbidden", "forbidden"), ("Conflict", "conflict"),
           ("IntegrityError", "integrity check failed"), ("NotFound", "not found"), ("BadInput", "bad input"),
           ("Refused", "refused"))


def _label(exc: BaseException) -> str:
    names = {cls.__name__ for cls in type(exc).__mro__}
    return next((label for name, label in _LABELS if name in names), "error")


def one_line(text: str) -> str:
    """Whitespace runs (newlines included) become one space; other control characters are
    escaped, so a user's input quoted in an error can neither split the line nor drive the terminal."""
    text = " ".join(text.split())
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def fail(args, prog: str, exc: BaseException, code: int) -> int:
    """One line on stderr; with --json also an object on stdout. Returns the exit code."""
    message = one_line(str(exc))
    print(f"{prog}: {_label(exc)}: {message}", file=sys.stderr)
    if args is not None and getattr(args, "json", False):
        import json

        payload: dict[str, Any] = {"ok": False, "error": message, "kind": type(exc).__name__, "exit": code}
        if getattr(exc, "field", None):
            payload["field"] = exc.field  # type: ignore[attr-defined]
        results = getattr(exc, "results", None)
        if results:
            payload["gates"] = [r.to_dict() for r in results]
        print(json.dumps(payload, indent=2, sort_keys=True, default=str))
    return code


PROJECT_PACKAGES = ("pipelines", "assets", "training", "evals")


def needs_checkout(exc: BaseException) -> str | None:
    """The wheel ships `llmreg` only: a verb that drives the Dagster project (evals, training,
    pipelines) needs the project checkout. One line saying so, instead of an internal error."""
    if isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] in PROJECT_PACKAGES:
        return (f"this verb needs the llm-registry project checkout ({exc.name}/ is not importable): run it "
                "from a clone of the repository after `make install`")
    return None


def run_verb(prog: str, args, run: Callable[[Any], int]) -> int:
    """Run a parsed verb: close what it opened, map its errors to exit codes, once for all verbs."""
    try:
        try:
            return run(args)
        finally:
            close_opened(args)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the one place errors become exit codes
        from llmreg.registry.errors import RegistryError

        if isinstance(exc, RegistryError):
            return fail(args, prog, exc, exc.exit_code)
        needs = needs_checkout(exc)
        if needs:
            return fail(args, prog, RuntimeError(needs), EXIT_BAD_INPUT)
        if os.environ.get("LLMREG_DEBUG"):
            raise
        return fail(args, prog, RuntimeError(f"internal error: {type(exc).__name__}: {exc} "
                                             "(set LLMREG_DEBUG=1 for the traceback)"), EXIT_INTERNAL)
