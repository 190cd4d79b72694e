"""Provider snapshots: the change log of hosted model snapshots the registry follows.

Providers (OpenAI, a vLLM server, ...) publish dated snapshots and retire old ones. Every
step in a snapshot's life is one `provider.snapshot` event in the registry's hash-chained
log, so the change log is as tamper-evident as promotions are. This module holds the pure
rules: what counts as a snapshot (the registry's own pin rule, so a floating alias never
does), which status may follow which, and the fold that turns events into the change log.

    seen -> qualifying -> qualified | rejected | failed
               ^---------------'-----------'--------'   (a re-evaluation starts again)

`failed` means a qualification could not finish (timeouts, 5xx, malformed answers, unknown
model): it is no verdict on the snapshot, and the last verdict and score stay shown.
Notes that leave the status alone: `deprecated` (the provider announced deprecation or
shutdown dates), `delisted` (gone from the provider's model list), `relisted`.
Problems that concern no single snapshot (the model list itself failed) are
`provider.discovery` events; only changes are recorded (first failure, a different error,
recovery), so a sensor polling a dead provider does not flood the log.
"""
from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .errors import BadInput, Refused
from .fields import as_number, as_str, as_token, fail, is_floating, show

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

PROVIDER_SNAPSHOT = "provider.snapshot"  # same string as registry.events.PROVIDER_SNAPSHOT
PROVIDER_DISCOVERY = "provider.discovery"
PROVIDER_EVENT_TYPES = (PROVIDER_SNAPSHOT, PROVIDER_DISCOVERY)

SEEN, QUALIFYING, QUALIFIED, REJECTED, FAILED = "seen", "qualifying", "qualified", "rejected", "failed"
DEPRECATED, DELISTED, RELISTED = "deprecated", "delisted", "relisted"
STATUSES = (SEEN, QUALIFYING, QUALIFIED, REJECTED, FAILED)  # what a snapshot's status can be
NOTES = (DEPRECATED, DELISTED, RELISTED)  # events that change attributes, not the status
VERDICTS = (QUALIFIED, REJECTED)
CONCLUSIONS = (QUALIFIED, REJECTED, FAILED)  # end a qualification run
EVENT_STATUSES = STATUSES + NOTES

PROVIDER_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")  # as registry.entry: it becomes ModelRef.provider
SUITE_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}@[0-9A-Za-z][0-9A-Za-z.+-]{0,63}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
KEY_SEPARATOR = "/"  # provider names cannot hold "/", so the first one splits a key


# ---------------------------------------------------------------------- names and pins

def check_provider(value: Any, field_name: str = "provider") -> str:
    text = as_str(value, field_name, max_len=64)
    if not PROVIDER_RE.match(text):
        fail(field_name, f"{show(text)} must be lowercase letters, digits and ._- (e.g. 'openai', 'local-vllm')")
    return text


def pin_problem(provider: str, snapshot: str) -> str | None:
    """Why `snapshot` is not a pinned snapshot of `provider` (None when it is).

    The registry's own rule (registry.entry.ModelRef): a floating alias (`latest`,
    `*-latest`, branch names) or an id without a date/version part (`gpt-4o`) names
    whatever the provider serves today, so it is never recorded as a snapshot.
    """
    from .model_ref import ModelRef

    try:
        ModelRef(provider=provider, id=snapshot)
    except BadInput as exc:
        return getattr(exc, "detail", None) or str(exc)
    return None


def check_snapshot(provider: str, snapshot: Any, field_name: str = "snapshot") -> str:
    """The snapshot id, or BadInput when it is a floating alias or not pinned."""
    text = as_token(snapshot, field_name, max_len=256)
    if is_floating(text) or is_floating(text.rsplit("/", 1)[-1]):
        fail(field_name, f"{text!r} is a floating alias of {provider}; only dated snapshots are recorded "
                         "(pin one such as 'name-YYYY-MM-DD')")
    problem = pin_problem(provider, text)
    if problem is not None:
        fail(field_name, f"{text!r} is not a snapshot of {provider}: {problem}")
    return text


def snapshot_key(provider: str, snapshot: str) -> str:
    """'provider/snapshot': the change log's key and the Dagster partition key."""
    return f"{provider}{KEY_SEPARATOR}{snapshot}"


def parse_snapshot_key(key: Any) -> tuple[str, str]:
    text = as_str(key, "snapshot key", max_len=400)
    provider, sep, snapshot = text.partition(KEY_SEPARATOR)
    if not sep or not snapshot:
        fail("snapshot key", f"{text!r} is not PROVIDER/SNAPSHOT (e.g. 'openai/gpt-5-mini-2026-06-01')")
    provider = check_provider(provider)
    return provider, check_snapshot(provider, snapshot)


def normalise_date(value: Any, field_name: str) -> str | None:
    """A provider's date (YYYY-MM-DD, ISO timestamp, unix seconds, date) -> 'YYYY-MM-DD'."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        fail(field_name, f"expected a date YYYY-MM-DD, got {show(value)}")
    if isinstance(value, _dt.datetime):
        return value.astimezone(_dt.timezone.utc).date().isoformat() if value.tzinfo else value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, (int, float)):
        if not 0 < value < 2**34:
            fail(field_name, f"{show(value)} is not a plausible unix time; give a date YYYY-MM-DD")
        return _dt.datetime.fromtimestamp(value, _dt.timezone.utc).date().isoformat()
    if isinstance(value, str):
        text = value.strip()
        try:
            if DATE_RE.match(text):
                return _dt.date.fromisoformat(text).isoformat()
            moment = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            fail(field_name, f"{show(value)} is not a date; give YYYY-MM-DD")
        return normalise_date(moment, field_name)
    fail(field_name, f"expected a date YYYY-MM-DD, got {type(value).__name__} {show(value)}")


# ---------------------------------------------------------------------- event payloads

def snapshot_payload(provider: Any, snapshot: Any, status: Any, *, family: Any = None, suite: Any = None,
                     run: Any = None, score: Any = None, passed: Any = None, failed_checks: Any = None,
                     detail: Any = None, deprecation_date: Any = None, shutdown_date: Any = None,
                     info: Mapping[str, Any] | None = None, drafts: Any = None,
                     trigger: Any = None) -> dict[str, Any]:
    """Validate one `provider.snapshot` event's payload; BadInput names the field and fix.

    Needs per status: qualifying -> suite, run; qualified/rejected -> suite, run, score;
    failed -> run, detail; deprecated -> a date.
    """
    provider = check_provider(provider)
    snapshot = check_snapshot(provider, snapshot)
    if status not in EVENT_STATUSES:
        fail("status", f"{show(status)} is not one of {', '.join(EVENT_STATUSES)}")
    out: dict[str, Any] = {"provider": provider, "snapshot": snapshot, "status": status}
    if family is not None:
        out["family"] = as_token(family, "family", max_len=100)
    if suite is not None:
        suite = as_str(suite, "suite", max_len=200)
        if not SUITE_REF_RE.match(suite):
            fail("suite", f"{suite!r} is not NAME@VERSION (e.g. 'triage-eval@1.0.0')")
        out["suite"] = suite
    if run is not None:
        out["run"] = as_token(run, "run", max_len=128)
    if score is not None:
        out["score"] = as_number(score, "score", lo=0.0, hi=1.0)
    if passed is not None:
        if not isinstance(passed, bool):
            fail("passed", f"expected true or false, got {show(passed)}")
        out["passed"] = passed
    if failed_checks:
        if isinstance(failed_checks, str) or not isinstance(failed_checks, Iterable):
            fail("failed_checks", f"expected a list of check names, got {show(failed_checks)}")
        out["failed_checks"] = [as_token(c, "failed_checks", max_len=64) for c in failed_checks]
    if detail is not None:
        out["detail"] = as_str(detail, "detail", max_len=2000, allow_control=True)
    for name, value in (("deprecation_date", deprecation_date), ("shutdown_date", shutdown_date)):
        date = normalise_date(value, name)
        if date is not None:
            out[name] = date
    if info:
        from .fields import freeze, thaw

        out["info"] = thaw(freeze(dict(info), "info"))
    if drafts:
        if isinstance(drafts, str) or not isinstance(drafts, Iterable):
            fail("drafts", f"expected a list of entry refs NAME@VERSION, got {show(drafts)}")
        out["drafts"] = [as_str(d, "drafts", max_len=300) for d in drafts]
    if trigger is not None:
        out["trigger"] = as_token(trigger, "trigger", max_len=64)
    needs = {QUALIFYING: ("suite", "run"), QUALIFIED: ("suite", "run", "score"),
             REJECTED: ("suite", "run", "score"), FAILED: ("run", "detail")}.get(status, ())
    for name in needs:
        if name not in out:
            fail(name, f"a {status!r} event needs {', '.join(needs)}; add {name}")
    if status == DEPRECATED and "deprecation_date" not in out and "shutdown_date" not in out:
        fail("deprecation_date", "a 'deprecated' event needs deprecation_date or shutdown_date")
    if status in VERDICTS and "passed" in out and out["passed"] != (status == QUALIFIED):
        fail("passed", f"status {status} contradicts passed={out['passed']}")
    return out


def discovery_payload(provider: Any, ok: bool, *, error: Any = None, base_url: Any = None,
                      listed: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"provider": check_provider(provider), "ok": bool(ok)}
    if not ok:
        out["error"] = as_str(error, "error", max_len=2000, allow_control=True)
    if base_url is not None:
        out["base_url"] = as_str(base_url, "base_url", max_len=2000)
    if listed is not None:
        out["listed"] = int(listed)
    return out


# ---------------------------------------------------------------------- the fold

@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """One row of the change log: a snapshot's current state folded from its events."""

    provider: str
    snapshot: str
    first_seen: str
    family: str | None = None
    status: str = SEEN
    updated: str = ""
    verdict: str | None = None  # last qualified/rejected, kept while a re-run is under way or failed
    score: float | None = None
    suite: str | None = None
    run: str | None = None
    failed_checks: tuple[str, ...] = ()
    detail: str | None = None
    deprecation_date: str | None = None
    shutdown_date: str | None = None
    listed: bool = True
    drafts: tuple[str, ...] = ()
    open_runs: tuple[str, ...] = ()  # qualifying runs not concluded yet
    info: Mapping[str, Any] = field(default_factory=dict)
    first_seq: int = 0
    last_seq: int = 0

    @property
    def key(self) -> str:
        return snapshot_key(self.provider, self.snapshot)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "provider": self.provider, "family": self.family, "snapshot": self.snapshot,
            "first_seen": self.first_seen, "status": self.status, "updated": self.updated,
            "verdict": self.verdict, "score": self.score, "suite": self.suite, "run": self.run,
            "failed_checks": list(self.failed_checks), "detail": self.detail,
            "deprecation_date": self.deprecation_date, "shutdown_date": self.shutdown_date,
            "listed": self.listed, "drafts": list(self.drafts), "open_runs": list(self.open_runs),
            "info": dict(self.info), "first_seq": self.first_seq, "last_seq": self.last_seq,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SnapshotRecord":
        """The inverse of to_dict (the projection stores records as that JSON)."""
        fields = {k: v for k, v in data.items() if k != "key"}
        for name in ("failed_checks", "drafts", "open_runs"):
            fields[name] = tuple(fields.get(name) or ())
        fields["info"] = dict(fields.get("info") or {})
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class DiscoveryRecord:
    """The last recorded state of a provider's model list (changes only)."""

    provider: str
    ok: bool
    time: str
    error: str | None = None
    base_url: str | None = None
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "ok": self.ok, "time": self.time, "error": self.error,
                "base_url": self.base_url, "seq": self.seq}


def _get(event: Any, name: str, default: Any = None) -> Any:
    if isinstance(event, Mapping):
        return event.get(name, default)
    return getattr(event, name, default)


def apply(record: SnapshotRecord | None, payload: Mapping[str, Any], *, time: str, seq: int) -> SnapshotRecord:
    """One event's effect on one snapshot's record (pure; the fold and the write checks use it)."""
    status = payload["status"]
    if record is None:
        record = SnapshotRecord(provider=payload["provider"], snapshot=payload["snapshot"], first_seen=time,
                                family=payload.get("family"), updated=time, first_seq=seq, last_seq=seq)
    changes: dict[str, Any] = {"updated": time, "last_seq": seq}
    if payload.get("family") and not record.family:
        changes["family"] = payload["family"]
    for name in ("deprecation_date", "shutdown_date"):
        if payload.get(name):
            changes[name] = payload[name]
    if status == SEEN:
        changes["status"] = SEEN
        changes["listed"] = True
        if payload.get("info"):
            changes["info"] = dict(payload["info"])
    elif status == QUALIFYING:
        changes.update(status=QUALIFYING, suite=payload.get("suite"), detail=None,
                       open_runs=record.open_runs + (payload["run"],))
    elif status in CONCLUSIONS:
        changes["status"] = status
        changes["open_runs"] = tuple(r for r in record.open_runs if r != payload.get("run"))
        changes["run"] = payload.get("run")
        changes["detail"] = payload.get("detail")
        if payload.get("suite"):
            changes["suite"] = payload["suite"]
        if status in VERDICTS:
            changes.update(verdict=status, score=payload.get("score"),
                           failed_checks=tuple(payload.get("failed_checks") or ()))
        if payload.get("drafts"):
            changes["drafts"] = record.drafts + tuple(payload["drafts"])
    elif status == DELISTED:
        changes["listed"] = False
    elif status == RELISTED:
        changes["listed"] = True
    return replace(record, **changes)


def fold(events: Iterable[Any]) -> dict[str, SnapshotRecord]:
    """`provider.snapshot` events (Event objects or mappings, seq order) -> {key: record}.

    Other event types are skipped, so the whole log can be passed.
    """
    records: dict[str, SnapshotRecord] = {}
    for event in events:
        if _get(event, "type") != PROVIDER_SNAPSHOT:
            continue
        payload = _get(event, "payload") or {}
        if not payload.get("provider") or not payload.get("snapshot") or payload.get("status") not in EVENT_STATUSES:
            continue  # written by a newer version of this module: not ours to interpret
        key = snapshot_key(payload["provider"], payload["snapshot"])
        records[key] = apply(records.get(key), payload, time=_get(event, "time", ""), seq=_get(event, "seq", 0))
    return records


def fold_discovery(events: Iterable[Any]) -> dict[str, DiscoveryRecord]:
    out: dict[str, DiscoveryRecord] = {}
    for event in events:
        if _get(event, "type") != PROVIDER_DISCOVERY:
            continue
        payload = _get(event, "payload") or {}
        if not payload.get("provider"):
            continue
        out[payload["provider"]] = DiscoveryRecord(payload["provider"], bool(payload.get("ok")), _get(event, "time", ""),
                                                   payload.get("error"), payload.get("base_url"), _get(event, "seq", 0))
    return out


def change_log(records: Mapping[str, SnapshotRecord] | Iterable[SnapshotRecord], *, provider: str | None = None,
               family: str | None = None) -> list[SnapshotRecord]:
    """Rows ordered as the table prints them: provider, family, first seen, snapshot."""
    rows = records.values() if isinstance(records, Mapping) else records
    rows = [r for r in rows if (provider is None or r.provider == provider) and (family is None or r.family == family)]
    return sorted(rows, key=lambda r: (r.provider, r.family or "", r.first_seen, natural_key(r.snapshot)))


# ---------------------------------------------------------------------- rules

def check_transition(record: SnapshotRecord | None, payload: Mapping[str, Any]) -> None:
    """Refused when the event does not fit the snapshot's history (e.g. a verdict without a run)."""
    status, key = payload["status"], snapshot_key(payload["provider"], payload["snapshot"])
    if status == SEEN:
        if record is not None:
            raise Refused(f"{key} was already seen on {record.first_seen}; nothing to record")
        return
    if record is None:
        raise Refused(f"{key} has not been seen; record it as seen (discovery) before {status}")
    if status in CONCLUSIONS and payload.get("run") not in record.open_runs:
        running = ", ".join(record.open_runs) or "none"
        raise Refused(f"{key}: no qualification run {payload.get('run')!r} in progress (running: {running}); "
                      "record status qualifying for that run first")
    if status == DELISTED and not record.listed:
        raise Refused(f"{key} is already delisted")
    if status == RELISTED and record.listed:
        raise Refused(f"{key} is listed; nothing to relist")


def natural_key(text: str) -> tuple:
    """Sort key comparing digit runs as numbers: 'x-2026-06-01' after 'x-2026-05-30'."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part)


def is_newer(candidate: SnapshotRecord, than: SnapshotRecord | None) -> bool:
    """Did `candidate` appear after `than`? First-seen time, then the id's natural order
    (snapshots seen in one discovery share a time; dated ids sort by their date)."""
    if than is None:
        return True  # pinned before this registry followed the provider: anything seen is newer
    if candidate.first_seen != than.first_seen:
        return candidate.first_seen > than.first_seen
    return natural_key(candidate.snapshot) > natural_key(than.snapshot)
