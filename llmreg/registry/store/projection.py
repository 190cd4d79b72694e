"""The projection: current state folded from the event log into SQL tables.

`apply_event` is the only code that writes projection tables. The write path calls it in
the same transaction as the event it appends; `rebuild` replays the whole log through
it. Each step depends only on the event and the projection's own prior state, never on
the clock or the caller, which is what makes a rebuild produce identical tables.

Unknown event types (a newer writer, a later issue) are stored and hashed but change no
table here.
"""
from __future__ import annotations

import json
from functools import lru_cache

from llmreg.registry import events as ev
from llmreg.registry.canonical import canonical_json
from llmreg.registry.store.connection import placeholders

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

PROJECTION_TABLES = ("entries", "stage_pointers", "stage_history", "version_states", "approvals", "reviews",
                     "evidence", "eval_records", "suites", "config", "provider_snapshots", "provider_discovery",
                     "webhook_subscriptions", "api_keys")
# Primary keys, to dump tables in a stable order.
TABLE_ORDER = {
    "entries": "name, version", "stage_pointers": "name, env, stage", "stage_history": "name, env, stage, since, seq",
    "version_states": "name, version, env", "approvals": "name, version, env, stage, actor",
    "reviews": "seq", "evidence": "seq", "eval_records": "seq", "suites": "name, version",
    "config": "key", "provider_snapshots": "key", "provider_discovery": "provider", "webhook_subscriptions": "id",
    "api_keys": "key_id",
}

_SQL = {
    "insert_entry": "INSERT INTO entries (name, version, vmajor, vminor, vpatch, seq, created_at, author, digest, "
                    "bump, bump_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "pointer_holder": "SELECT version FROM stage_pointers WHERE name = ? AND env = ? AND stage = ?",
    "held_stages": "SELECT stage FROM stage_pointers WHERE name = ? AND env = ? AND version = ?",
    "insert_history": "INSERT INTO stage_history (name, env, stage, since, seq, version, weight) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "drop_version_pointers": "DELETE FROM stage_pointers WHERE name = ? AND env = ? AND version = ?",
    "upsert_pointer": "INSERT INTO stage_pointers (name, env, stage, version, weight, seq, time) VALUES (?, ?, ?, ?, ?, ?, ?) "
                      "ON CONFLICT (name, env, stage) DO UPDATE SET version = excluded.version, "
                      "weight = excluded.weight, seq = excluded.seq, time = excluded.time",
    "upsert_state": "INSERT INTO version_states (name, version, env, status, was_production, seq) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (name, version, env) DO UPDATE SET status = excluded.status, "
                    "was_production = CASE WHEN excluded.was_production = 1 THEN 1 ELSE version_states.was_production END, "
                    "seq = excluded.seq",
    "upsert_approval": "INSERT INTO approvals (name, version, env, stage, actor, granted, seq) VALUES (?, ?, ?, ?, ?, ?, ?) "
                       "ON CONFLICT (name, version, env, stage, actor) DO UPDATE SET granted = excluded.granted, seq = excluded.seq",
    "insert_review": "INSERT INTO reviews (seq, name, version, env, actor, decision, notes) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "insert_evidence": "INSERT INTO evidence (seq, name, version, env, kind, actor, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "insert_eval": "INSERT INTO eval_records (seq, name, version, suite, suite_version, score, actor, report) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "upsert_suite": "INSERT INTO suites (name, version, seq, threshold, definition) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (name, version) DO UPDATE SET seq = excluded.seq, threshold = excluded.threshold, "
                    "definition = excluded.definition",
    "upsert_config": "INSERT INTO config (key, seq, value) VALUES (?, ?, ?) "
                     "ON CONFLICT (key) DO UPDATE SET seq = excluded.seq, value = excluded.value",
    "provider_record": "SELECT record FROM provider_snapshots WHERE key = ?",
    "upsert_provider_record": "INSERT INTO provider_snapshots (key, provider, seq, record) VALUES (?, ?, ?, ?) "
                              "ON CONFLICT (key) DO UPDATE SET seq = excluded.seq, record = excluded.record",
    "upsert_discovery": "INSERT INTO provider_discovery (provider, seq, record) VALUES (?, ?, ?) "
                        "ON CONFLICT (provider) DO UPDATE SET seq = excluded.seq, record = excluded.record",
    "insert_webhook": "INSERT INTO webhook_subscriptions (id, seq, actor, origin, url_sha256, events, name_pattern, "
                      "format, max_attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "delete_webhook": "DELETE FROM webhook_subscriptions WHERE id = ?",
    "insert_api_key": "INSERT INTO api_keys (key_id, digest, label, scopes, created_seq, created_at, created_by) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?)",
    "revoke_api_key": "UPDATE api_keys SET revoked_seq = ?, revoked_at = ?, revoked_by = ?, reason = ? "
                      "WHERE key_id = ? AND revoked_seq IS NULL",
}


@lru_cache(maxsize=None)
def statements(dialect: str) -> dict[str, str]:
    return {key: placeholders(sql, dialect) for key, sql in _SQL.items()}


def _text(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


def _semver(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in version.split("+", 1)[0].split("-", 1)[0].split("."))
    return major, minor, patch


def apply_event(cur, sql: Mapping[str, str], seq: int, time: str, actor: str, type_: str,
                name: str | None, version: str | None, env: str | None,
                payload: Mapping[str, Any]) -> None:
    handler = _HANDLERS.get(type_)
    if handler is not None:
        handler(cur, sql, seq, time, actor, name, version, env, payload)


def _entry_registered(cur, sql, seq, time, actor, name, version, env, payload):
    entry = payload["entry"]
    major, minor, patch = _semver(version)
    cur.execute(sql["insert_entry"], (name, version, major, minor, patch, seq, entry["created_at"],
                                      entry["author"], payload["digest"], entry.get("bump"), entry.get("bump_reason")))


def _holder(cur, sql, name, env, stage):
    cur.execute(sql["pointer_holder"], (name, env, stage))
    row = cur.fetchone()
    return row[0] if row else None


def _take_stage(cur, sql, seq, time, name, version, env, stage, weight):
    """`version` leaves whatever stage it held in `env` and takes `stage`; the holder it
    displaces goes back to development (staging/canary) or is retired (production)."""
    displaced = _holder(cur, sql, name, env, stage)
    _leave_stages(cur, sql, seq, time, name, version, env, keep=stage)
    cur.execute(sql["insert_history"], (name, env, stage, time, seq, version, weight))
    cur.execute(sql["upsert_pointer"], (name, env, stage, version, weight, seq, time))
    cur.execute(sql["upsert_state"], (name, version, env, stage, 1 if stage == "production" else 0, seq))
    if displaced is not None and displaced != version:
        status = "retired" if stage == "production" else "development"
        cur.execute(sql["upsert_state"], (name, displaced, env, status, 0, seq))


def _leave_stages(cur, sql, seq, time, name, version, env, keep=None):
    """`version` leaves every stage it holds in `env`; each one left (but `keep`, which it
    takes again) is held by nobody from this event on (stage_history)."""
    cur.execute(sql["held_stages"], (name, env, version))
    left = [row[0] for row in cur.fetchall()]
    if left:
        cur.execute(sql["drop_version_pointers"], (name, env, version))
    for stage in left:
        if stage != keep:
            cur.execute(sql["insert_history"], (name, env, stage, time, seq, None, None))


def _stage_promoted(cur, sql, seq, time, actor, name, version, env, payload):
    _take_stage(cur, sql, seq, time, name, version, env, payload["stage"], payload.get("weight"))


def _stage_rolled_back(cur, sql, seq, time, actor, name, version, env, payload):
    if payload.get("stage", "production") == "canary":
        # a pulled canary: the version leaves the stage, nobody replaces it
        _leave_stages(cur, sql, seq, time, name, version, env)
        cur.execute(sql["upsert_state"], (name, version, env, "development", 0, seq))
        return
    _take_stage(cur, sql, seq, time, name, version, env, "production", None)


def _stage_archived(cur, sql, seq, time, actor, name, version, env, payload):
    _leave_stages(cur, sql, seq, time, name, version, env)
    cur.execute(sql["upsert_state"], (name, version, env, "archived", 0, seq))


def _review(cur, sql, seq, time, actor, name, version, env, payload):
    cur.execute(sql["insert_review"], (seq, name, version, env, actor, payload["decision"], payload.get("notes", "")))


def _approval(granted: int):
    def handler(cur, sql, seq, time, actor, name, version, env, payload):
        cur.execute(sql["upsert_approval"], (name, version, env, payload["stage"], actor, granted, seq))
    return handler


def _evidence(cur, sql, seq, time, actor, name, version, env, payload):
    cur.execute(sql["insert_evidence"], (seq, name, version, env, payload["kind"], actor, _text(payload["data"])))


def eval_record(payload: Mapping[str, Any]) -> dict[str, Any]:
    """What eval_records keeps: the normalised EvalRef plus the report's own verdict (passed, failed_checks)."""
    from llmreg.registry.eval_reports import report_verdict  # write path only

    return {**payload["eval"], **report_verdict(payload.get("report"))}


def _eval(cur, sql, seq, time, actor, name, version, env, payload):
    report = payload["eval"]  # normalised EvalRef form; payload["report"] is the report as given
    cur.execute(sql["insert_eval"], (seq, name, version, report["suite"], report.get("suite_version"),
                                     float(report["score"]), actor, _text(eval_record(payload))))


def _suite(cur, sql, seq, time, actor, name, version, env, payload):
    threshold = payload.get("threshold")
    cur.execute(sql["upsert_suite"], (name, version, seq, None if threshold is None else float(threshold),
                                      _text(payload.get("definition") or {})))


def _config(key: str):
    def handler(cur, sql, seq, time, actor, name, version, env, payload):
        cur.execute(sql["upsert_config"], (key, seq, _text(payload[key])))
        if key == "roles" and "signers" in payload:  # member -> public keys, bound with the roles
            cur.execute(sql["upsert_config"], ("signers", seq, _text(payload["signers"])))
    return handler


def _provider_snapshot(cur, sql, seq, time, actor, name, version, env, payload):
    """The snapshot's record folded one step (providers.apply, the rule the writes check)."""
    from llmreg.registry import providers as pv

    if not payload.get("provider") or not payload.get("snapshot") or payload.get("status") not in pv.EVENT_STATUSES:
        return  # written by a newer version of providers.py: not ours to interpret
    key = pv.snapshot_key(payload["provider"], payload["snapshot"])
    cur.execute(sql["provider_record"], (key,))
    row = cur.fetchone()
    record = pv.SnapshotRecord.from_dict(json.loads(row[0])) if row else None
    record = pv.apply(record, payload, time=time, seq=seq)
    cur.execute(sql["upsert_provider_record"], (key, record.provider, seq, _text(record.to_dict())))


def _provider_discovery(cur, sql, seq, time, actor, name, version, env, payload):
    from llmreg.registry import providers as pv

    if not payload.get("provider"):
        return
    record = pv.DiscoveryRecord(payload["provider"], bool(payload.get("ok")), time, payload.get("error"),
                                payload.get("base_url"), seq)
    cur.execute(sql["upsert_discovery"], (record.provider, seq, _text(record.to_dict())))


def _webhook_subscribed(cur, sql, seq, time, actor, name, version, env, payload):
    from llmreg.registry.webhooks import WebhookSubscription

    sub = WebhookSubscription.from_payload(payload, seq, actor)
    cur.execute(sql["delete_webhook"], (sub.id,))  # the handler refuses a live id; a replay must not fail on one
    cur.execute(sql["insert_webhook"], (sub.id, seq, actor, sub.origin, sub.url_sha256, _text(list(sub.events)),
                                        sub.name_pattern, sub.format, sub.max_attempts))


def _webhook_unsubscribed(cur, sql, seq, time, actor, name, version, env, payload):
    cur.execute(sql["delete_webhook"], (payload["id"],))


def _api_key_created(cur, sql, seq, time, actor, name, version, env, payload):
    cur.execute(sql["insert_api_key"], (payload["key_id"], payload["digest"], payload["label"],
                                        _text(payload["scopes"]), seq, time, actor))


def _api_key_revoked(cur, sql, seq, time, actor, name, version, env, payload):
    # the first revocation stands (the handler appends no second one; a fold must agree anyway)
    cur.execute(sql["revoke_api_key"], (seq, time, actor, payload.get("reason", ""), payload["key_id"]))


_HANDLERS = {
    ev.ENTRY_REGISTERED: _entry_registered,
    ev.STAGE_PROMOTED: _stage_promoted,
    ev.STAGE_ROLLED_BACK: _stage_rolled_back,
    ev.STAGE_ARCHIVED: _stage_archived,
    ev.REVIEW_RECORDED: _review,
    ev.APPROVAL_GRANTED: _approval(1),
    ev.APPROVAL_WITHDRAWN: _approval(0),
    ev.EVIDENCE_RECORDED: _evidence,
    ev.EVAL_RECORDED: _eval,
    ev.SUITE_REGISTERED: _suite,
    ev.CONFIG_ROLES: _config("roles"),
    ev.CONFIG_GATES: _config("gates"),
    ev.CONFIG_APPROVALS: _config("approvals"),
    ev.PROVIDER_SNAPSHOT: _provider_snapshot,
    "provider.discovery": _provider_discovery,
    ev.WEBHOOK_SUBSCRIBED: _webhook_subscribed,
    ev.WEBHOOK_UNSUBSCRIBED: _webhook_unsubscribed,
    ev.APIKEY_CREATED: _api_key_created,
    ev.APIKEY_REVOKED: _api_key_revoked,
}


def fold_stages(rows) -> dict[str, tuple[str, float | None, int, str]]:
    """Stage pointers of one (name, env) from its stage events in seq order, in memory.

    rows: (seq, time, type, version, payload) with payload a mapping. The same transitions
    as `_take_stage`/`_stage_archived`; a contract test checks the fold of the whole log
    equals the projection, and time travel folds a prefix of it.
    """
    pointers: dict[str, tuple[str, float | None, int, str]] = {}
    for seq, time, type_, version, payload in rows:
        for stage in [s for s, held in pointers.items() if held[0] == version]:
            del pointers[stage]
        if type_ == ev.STAGE_PROMOTED:
            pointers[payload["stage"]] = (version, payload.get("weight"), seq, time)
        elif type_ == ev.STAGE_ROLLED_BACK and payload.get("stage", "production") == "production":
            pointers["production"] = (version, None, seq, time)
    return pointers


HistoryRow = tuple[str, str, str, str, int, "str | None", "float | None"]


def fold_stage_history(rows) -> list[HistoryRow]:
    """The stage_history table as the log implies it: rows (seq, time, type, name, version,
    env, payload) of the stage events in seq order -> sorted (name, env, stage, since, seq,
    version, weight) rows. The same transitions as `fold_stages`; `audit verify` and the
    contract tests compare it with the stored table, and migration 0005 fills it with it."""
    held: dict[tuple[str, str], dict[str, tuple[str, float | None]]] = {}
    out: list[HistoryRow] = []
    for seq, time, type_, name, version, env, payload in rows:
        pointers = held.setdefault((name, env), {})
        if type_ == ev.STAGE_PROMOTED:
            target: str | None = payload["stage"]
            weight = payload.get("weight")
        elif type_ == ev.STAGE_ROLLED_BACK and payload.get("stage", "production") == "production":
            target, weight = "production", None
        else:  # archived, or a pulled canary
            target, weight = None, None
        for stage in [s for s, h in pointers.items() if h[0] == version]:
            del pointers[stage]
            if stage != target:
                out.append((name, env, stage, time, seq, None, None))
        if target is not None:
            pointers[target] = (version, weight)
            out.append((name, env, target, time, seq, version, weight))
    out.sort(key=lambda row: row[:5])
    return out
