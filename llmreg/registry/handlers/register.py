"""Register a new version of an entry; with import_history, its recorded status too."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from llmreg.registry import events as ev
from llmreg.registry.canonical import Encoded
from llmreg.registry.entry import Entry, EntrySpec
from llmreg.registry.errors import BadInput, Refused, RegistryError
from llmreg.registry.events import Event
from llmreg.registry.handlers.guard import Deps, authorize, refuse
from llmreg.registry.resolve import DEFAULT_ENV, check_env
from llmreg.registry.semver import diff_specs, next_version, parse_version, refuse_identical
from llmreg.registry.store.port import UnitOfWork

DEFAULT_CANARY_WEIGHT = 0.1


@dataclass(frozen=True)
class Register:
    spec: EntrySpec
    actor: str
    bump: str | None = None
    version: str | None = None
    assigned: Mapping[str, Any] = field(default_factory=dict)  # version/status/approved_by of an import
    import_history: bool = False
    env: str = DEFAULT_ENV


def register_command(spec: EntrySpec, assigned: Mapping[str, Any], *, actor: str, bump: str | None,
                     version: str | None, import_history: bool, env: str) -> Register:
    if bump is not None and bump not in ("major", "minor", "patch"):
        raise BadInput(f"bump: {bump!r} is not major, minor or patch", field="bump")
    if version is not None:
        parse_version(version, "version")
    if bump is not None and version is not None:
        raise BadInput("bump: give either a bump level or an explicit version, not both", field="bump")
    if assigned.get("version") is not None and (version is not None or bump is not None):
        raise BadInput("version: the imported file already sets version; drop --version/--bump", field="version")
    if assigned and not import_history:  # pragma: no cover - parse_entry refuses this already
        raise BadInput("version: assigned fields need import_history=True", field="version")
    if import_history:
        env = check_env(env)
    return Register(spec, actor, bump, version, dict(assigned), import_history, env)


def register(cmd: Register, uow: UnitOfWork, deps: Deps) -> tuple[Entry, list[Event]]:
    """(the new entry, the events appended)."""
    authorize(uow, deps, cmd.actor, "configure" if cmd.import_history else "register", name=cmd.spec.name)
    return register_in(cmd, uow, deps)


@dataclass(frozen=True)
class RegisterBatch:
    """Several native registrations by one actor, committed together or not at all."""

    commands: tuple[Register, ...]
    actor: str


def register_batch(batch: RegisterBatch, uow: UnitOfWork, deps: Deps) -> tuple[list[Entry], list[Event]]:
    """Every registration of the batch in this one unit of work (one durable commit for the
    lot). Roles are checked for every name before anything is appended, so a refusal commits
    only its refusal record; any other error rolls the whole batch back."""
    if not batch.commands:
        raise BadInput("entries: the batch is empty; give at least one entry", field="entries")
    for cmd in batch.commands:
        if cmd.import_history or cmd.version is not None or cmd.bump is not None:
            raise BadInput("entries: a batch registers native versions bumped from their diffs; register an import, "
                           "an explicit --version or a --bump on its own", field="entries")
    for name in dict.fromkeys(cmd.spec.name for cmd in batch.commands):
        authorize(uow, deps, batch.actor, "register", name=name)
    # A name registered twice in the batch diffs against the version the batch just wrote.
    mine: dict[str, Entry] = {}

    def latest(uow_: UnitOfWork, name: str) -> str | None:
        held = mine.get(name)
        if held is not None:
            return held.version
        return deps.latest(uow_, name) if deps.latest is not None else uow_.latest_version(name)

    def entry(reads, name: str, version: str) -> Entry:
        held = mine.get(name)
        return held if held is not None and held.version == version else deps.entry(reads, name, version)

    local = Deps(config=deps.config, entry=entry, latest=latest)
    entries, events = [], []
    for index, cmd in enumerate(batch.commands):
        try:
            registered, appended = register_in(Register(cmd.spec, batch.actor, env=cmd.env), uow, local)
        except RegistryError as exc:
            exc.batch_index = index  # type: ignore[attr-defined]  # the facade names the item (its file)
            raise
        mine[registered.name] = registered
        entries.append(registered)
        events.extend(appended)
    return entries, events


def _check_floor(uow: UnitOfWork, deps: Deps, spec) -> None:
    """An entry's own gates may only tighten the registry's policy (gates.yaml, the registered suite)."""
    if not spec.gates:
        return
    found = looser_entry_gates(uow, deps.config(uow)[1], spec)
    if found is not None:
        field, message = found
        raise BadInput(f"{field}: {message}; an entry's gates may only tighten the registry's policy", field=field)


def looser_entry_gates(reads, gates, spec) -> tuple[str, str] | None:
    """(field, message) for the first of the entry's gates looser than the policy in force (the
    audit replays this on every registration), else None."""
    from llmreg.registry.gates_config import suite_fairness_max_gap

    if not spec.gates:
        return None
    suite = spec.eval.suite if getattr(spec, "eval", None) is not None else None
    threshold_floor = gates.config_threshold(suite)
    suite_gap = None
    registered = reads.suite(suite) if suite else None
    if registered is not None:
        if registered["threshold"] is not None:
            threshold_floor = (float(registered["threshold"]), f"suite {registered['name']}@{registered['version']}")
        suite_gap = suite_fairness_max_gap(registered["definition"])
    return gates.looser_than_floor(spec.gates, threshold_floor, suite_gap)


def register_in(cmd: Register, uow: UnitOfWork, deps: Deps) -> tuple[Entry, list[Event]]:
    """The registration itself, once authorized (provider drafts call it inside their own write)."""
    parsed, name, bump, version, assigned = cmd.spec, cmd.spec.name, cmd.bump, cmd.version, cmd.assigned
    latest = deps.latest(uow, name) if deps.latest is not None else uow.latest_version(name)
    previous = deps.entry(uow, name, latest) if latest else None
    if cmd.import_history and previous is not None and previous.bump != "import":
        # Imports come first and natives after, so the latest tells whether any is native.
        refuse(uow, Refused(f"import: {name} already has native versions (latest {previous.version}); history is "
                            "imported only into a name before its first native version"), actor=cmd.actor,
               action="configure", name=name, version=None, env=cmd.env)
    _check_floor(uow, deps, parsed)
    diff = diff_specs(previous.spec if previous else None, parsed)
    if previous is not None and diff.identical:
        refuse_identical(diff, name=name, latest=previous.version)
    wanted = assigned.get("version") or version
    # Only an explicit version can collide with history; a computed bump of the latest cannot
    # (and reading every version here made registration O(n) in the versions of a name).
    new_version = next_version(previous.version if previous else None, bump or diff.bump, override=wanted,
                               existing=uow.versions(name) if wanted else ())
    if cmd.import_history:
        kind, reason = "import", f"imported history (version {new_version} from the file)"
    elif previous is None:
        kind, reason = "initial", "first version"
    elif version is not None:
        kind, reason = "override", f"explicit version {version} (diff implies {diff.reason()})"
    elif bump is not None:
        kind = bump
        reason = diff.reason() if bump == diff.bump else f"explicit --bump {bump} (diff implies {diff.reason()})"
    else:
        assert diff.bump is not None  # a spec that differs from the previous one implies a bump
        kind, reason = diff.bump, diff.reason()
    entry = Entry(spec=parsed, version=new_version, author=cmd.actor, created_at=uow.time, seq=uow.next_seq,
                  bump=kind, bump_reason=reason, previous=previous.version if previous else None)
    changes = [{"path": c.path, "level": c.level} for c in diff.changes] if previous else []
    # Encoded: the tuple's canonical text, built once for the digest, is reused by the event.
    imported = ({k: list(v) if isinstance(v, tuple) else v for k, v in assigned.items()}
                if cmd.import_history else None)
    events = [uow.append(ev.ENTRY_REGISTERED, actor=cmd.actor, name=name, version=new_version,
                         payload=Encoded.of({"entry": entry.encoded(), "digest": parsed.digest,
                                             "changes": changes, "imported": imported}))]
    if cmd.import_history:
        events.extend(_import_status(uow, entry, assigned, cmd.env, cmd.actor))
    return entry, events


def _import_status(uow: UnitOfWork, entry: Entry, assigned: Mapping, env: str, actor: str) -> list[Event]:
    status = assigned.get("status")
    if status in (None, "development"):
        return []
    imported = {"imported": True, "approved_by": list(assigned.get("approved_by", ()))}
    if status in ("staging", "canary", "production"):
        holder = uow.pointer(entry.name, env, status)
        return [uow.append(ev.STAGE_PROMOTED, actor=actor, name=entry.name, version=entry.version, env=env,
                           payload={"stage": status, "from": "development",
                                    "displaced": holder[0] if holder else None,
                                    "weight": DEFAULT_CANARY_WEIGHT if status == "canary" else None},
                           evidence=imported)]
    if status == "archived":
        return [uow.append(ev.STAGE_ARCHIVED, actor=actor, name=entry.name, version=entry.version, env=env,
                           payload={"from": "development"}, evidence=imported)]
    if status == "retired":
        raise BadInput("status: 'retired' cannot be imported on its own; import the version as production "
                       "and the later versions after it", field="status")
    return []
