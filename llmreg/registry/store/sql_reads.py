"""Projection reads in SQL, shared by the store (its own connection) and a unit of work
(the open transaction's cursor), so reads inside a write see that write's transaction."""
from __future__ import annotations

import json

from llmreg.registry.store.port import Pointer, Reads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from llmreg.registry import providers as pv
    from llmreg.registry.api_keys import ApiKey

READ_SQL = {
    "pointer": "SELECT version, weight, seq, time FROM stage_pointers WHERE name = ? AND env = ? AND stage = ?",
    # the newest change of the stage at or before the moment: one seek on the primary key
    "stage_at": "SELECT version, weight, seq, since FROM stage_history WHERE name = ? AND env = ? AND stage = ? "
                "AND since <= ? ORDER BY since DESC, seq DESC LIMIT 1",
    "stage_history": "SELECT env, stage, since, seq, version FROM stage_history WHERE name = ? "
                     "ORDER BY env, stage, since, seq",
    "entry": "SELECT e.payload FROM entries n JOIN events e ON e.seq = n.seq WHERE n.name = ? AND n.version = ?",
    "latest_version": "SELECT version FROM entries WHERE name = ? ORDER BY vmajor DESC, vminor DESC, vpatch DESC LIMIT 1",
    "versions": "SELECT version FROM entries WHERE name = ? ORDER BY vmajor, vminor, vpatch",
    "names": "SELECT DISTINCT name FROM entries ORDER BY name",
    "state": "SELECT status, was_production FROM version_states WHERE name = ? AND version = ? AND env = ?",
    "states_of_version": "SELECT env, status, was_production FROM version_states WHERE name = ? AND version = ? ORDER BY env",
    "states_of_name": "SELECT version, env, status, was_production FROM version_states WHERE name = ? ORDER BY env, version",
    "reviews": "SELECT actor, decision, notes, seq FROM reviews WHERE name = ? AND version = ? AND env = ? ORDER BY seq",
    "approvals": "SELECT actor, stage, seq, granted FROM approvals WHERE name = ? AND version = ? AND env = ? ORDER BY seq",
    "evidence": "SELECT kind, data, actor, seq FROM evidence WHERE name = ? AND version = ? AND env = ? ORDER BY seq",
    "evals": "SELECT report, actor, seq FROM eval_records WHERE name = ? AND version = ? ORDER BY seq",
    "suite": "SELECT version, threshold, definition, seq FROM suites WHERE name = ? AND version = ?",
    "suites_of": "SELECT version, threshold, definition, seq FROM suites WHERE name = ? ORDER BY seq",
    "config": "SELECT value, seq FROM config WHERE key = ?",
    "pointers": "SELECT name, env, stage, version, weight, seq, time FROM stage_pointers ORDER BY name, env, stage",
    "pointers_name": "SELECT name, env, stage, version, weight, seq, time FROM stage_pointers WHERE name = ? "
                     "ORDER BY name, env, stage",
    "pointers_env": "SELECT name, env, stage, version, weight, seq, time FROM stage_pointers WHERE env = ? "
                    "ORDER BY name, env, stage",
    "pointers_name_env": "SELECT name, env, stage, version, weight, seq, time FROM stage_pointers "
                         "WHERE name = ? AND env = ? ORDER BY name, env, stage",
    "provider_record": "SELECT record FROM provider_snapshots WHERE key = ?",
    "provider_records": "SELECT record FROM provider_snapshots ORDER BY key",
    "provider_records_of": "SELECT record FROM provider_snapshots WHERE provider = ? ORDER BY key",
    "discovery_records": "SELECT record FROM provider_discovery ORDER BY provider",
    "webhook_subscriptions": "SELECT id, origin, url_sha256, events, name_pattern, format, max_attempts, seq, actor "
                             "FROM webhook_subscriptions ORDER BY id",
    "api_keys": "SELECT key_id, digest, label, scopes, created_seq, created_at, created_by, revoked_seq, revoked_at, "
                "revoked_by, reason FROM api_keys ORDER BY created_seq",
    "api_key": "SELECT key_id, digest, label, scopes, created_seq, created_at, created_by, revoked_seq, revoked_at, "
               "revoked_by, reason FROM api_keys WHERE key_id = ?",
}


# Listing reads pick fields out of the stored event text in the database (C, not Python).
# SQLite: json_extract per field. PostgreSQL: the text is cast to json once per row (a
# LATERAL subquery fenced with OFFSET 0, so the planner does not inline the cast per field).
def _fields(dialect: str, paths: tuple[str, ...]) -> tuple[str, str]:
    """(FROM-clause addition, one select expression per dotted path under the event payload)."""
    if dialect == "sqlite":
        return "", ", ".join(f"json_extract(e.payload, '$.{path}')" for path in paths)
    common = paths[0].rsplit(".", 1)[0] if all("." in p for p in paths) else ""
    prefix = common.split(".") if common and all(p.startswith(common + ".") for p in paths) else []
    doc = "e.payload::json" + "".join(f" -> '{part}'" for part in prefix)
    exprs = []
    for path in paths:
        parts = path.split(".")[len(prefix):]
        exprs.append("d.doc" + "".join(f" -> '{part}'" for part in parts[:-1]) + f" ->> '{parts[-1]}'")
    return f" CROSS JOIN LATERAL (SELECT {doc} AS doc OFFSET 0) d", ", ".join(exprs)


def dialect_read_sql(dialect: str) -> dict[str, str]:
    """The listing statements, whose JSON field access differs between SQLite and PostgreSQL."""
    join_m, model = _fields(dialect, ("entry.spec.model.snapshot", "entry.spec.model.id"))
    return {
        "version_count": "SELECT COUNT(*) FROM entries WHERE name = ?",
        # bump columns on the row (0010): no event read, no JSON parsed per version
        "version_rows": "SELECT version, created_at, author, bump, bump_reason FROM entries WHERE name = ? "
                        "ORDER BY vmajor, vminor, vpatch LIMIT ? OFFSET ?",
        "name_count": "SELECT COUNT(DISTINCT name) FROM entries",
        "name_rows": f"SELECT c.name, n.version, c.n, COALESCE({model}) FROM (SELECT name, COUNT(*) AS n "
                     "FROM entries GROUP BY name ORDER BY name LIMIT ? OFFSET ?) c JOIN entries n ON n.name = c.name "
                     "AND n.version = (SELECT x.version FROM entries x WHERE x.name = c.name "
                     "ORDER BY x.vmajor DESC, x.vminor DESC, x.vpatch DESC LIMIT 1) "
                     f"JOIN events e ON e.seq = n.seq{join_m} ORDER BY c.name",
    }


class SQLReads(Reads):
    """The Reads port over `_rows`/`_row`, which subclasses bind to a connection or a transaction."""

    def _rows(self, key: str, params: tuple = ()) -> list[tuple]:
        raise NotImplementedError

    def _row(self, key: str, params: tuple = ()) -> tuple | None:
        raise NotImplementedError

    def entry_data(self, name: str, version: str) -> dict[str, Any] | None:
        row = self._row("entry", (name, version))
        return json.loads(row[0])["entry"] if row else None

    def pointer(self, name: str, env: str, stage: str) -> tuple | None:
        return self._row("pointer", (name, env, stage))

    def stage_at(self, name: str, env: str, stage: str, until_time: str) -> tuple | None:
        """(version, weight, seq, since) of who held `stage` at `until_time` (stage_history), or None."""
        row = self._row("stage_at", (name, env, stage, until_time))
        return row if row is not None and row[0] is not None else None

    def stage_history(self, name: str) -> list[tuple]:
        """(env, stage, since, seq, version) rows of `name`'s stage_history, in (env, stage, since, seq)
        order; version None: nobody held the stage from then on."""
        return [tuple(row) for row in self._rows("stage_history", (name,))]

    def pointers(self, name: str | None = None, env: str | None = None) -> list[Pointer]:
        if name is not None and env is not None:
            rows = self._rows("pointers_name_env", (name, env))
        elif name is not None:
            rows = self._rows("pointers_name", (name,))
        elif env is not None:
            rows = self._rows("pointers_env", (env,))
        else:
            rows = self._rows("pointers")
        return [Pointer(*row) for row in rows]

    def latest_version(self, name: str) -> str | None:
        row = self._row("latest_version", (name,))
        return row[0] if row else None

    def versions(self, name: str) -> list[str]:
        return [row[0] for row in self._rows("versions", (name,))]

    def names(self) -> list[str]:
        return [row[0] for row in self._rows("names")]

    def version_count(self, name: str) -> int:
        row = self._row("version_count", (name,))
        return row[0] if row else 0

    def version_rows(self, name: str, limit: int, offset: int = 0) -> list:
        return self._rows("version_rows", (name, limit, offset))

    def name_count(self) -> int:
        row = self._row("name_count")
        return row[0] if row else 0

    def name_rows(self, limit: int, offset: int = 0) -> list:
        return self._rows("name_rows", (limit, offset))

    def state(self, name: str, version: str, env: str) -> tuple[str, bool] | None:
        row = self._row("state", (name, version, env))
        return (row[0], bool(row[1])) if row else None

    def states_of_version(self, name: str, version: str) -> dict[str, tuple[str, bool]]:
        return {env: (status, bool(was)) for env, status, was in self._rows("states_of_version", (name, version))}

    def states_of_name(self, name: str) -> list[tuple[str, str, str, bool]]:
        return [(v, e, s, bool(w)) for v, e, s, w in self._rows("states_of_name", (name,))]

    def reviews(self, name: str, version: str, env: str) -> list[dict]:
        return [{"actor": a, "decision": d, "notes": n, "seq": s}
                for a, d, n, s in self._rows("reviews", (name, version, env))]

    def approvals(self, name: str, version: str, env: str, *, stage: str | None = None,
                  granted_only: bool = True) -> list[dict]:
        return [{"actor": a, "stage": st, "seq": s}
                for a, st, s, g in self._rows("approvals", (name, version, env))
                if (stage is None or st == stage) and (g or not granted_only)]

    def evidence(self, name: str, version: str, env: str) -> list[dict]:
        return [{"kind": k, "data": json.loads(d), "actor": a, "seq": s}
                for k, d, a, s in self._rows("evidence", (name, version, env))]

    def eval_records(self, name: str, version: str) -> list[dict]:
        return [dict(json.loads(r), actor=a, seq=s) for r, a, s in self._rows("evals", (name, version))]

    def suite(self, name: str, version: str | None = None) -> dict | None:
        if version is not None:
            row = self._row("suite", (name, version))
        else:
            rows = self._rows("suites_of", (name,))
            row = rows[-1] if rows else None
        if row is None:
            return None
        return {"name": name, "version": row[0], "threshold": row[1], "definition": json.loads(row[2]), "seq": row[3]}

    def config(self, key: str) -> tuple[Any, int] | None:
        row = self._row("config", (key,))
        return (json.loads(row[0]), row[1]) if row else None

    def provider_record(self, key: str) -> "pv.SnapshotRecord | None":
        row = self._row("provider_record", (key,))
        from llmreg.registry import providers as pv  # only the provider verbs read these

        return pv.SnapshotRecord.from_dict(json.loads(row[0])) if row else None

    def provider_records(self, provider: str | None = None) -> "dict[str, pv.SnapshotRecord]":
        rows = self._rows("provider_records") if provider is None else self._rows("provider_records_of", (provider,))
        from llmreg.registry import providers as pv

        records = (pv.SnapshotRecord.from_dict(json.loads(row[0])) for row in rows)
        return {record.key: record for record in records}

    def discovery_records(self) -> "dict[str, pv.DiscoveryRecord]":
        from llmreg.registry import providers as pv

        records = (pv.DiscoveryRecord(**json.loads(row[0])) for row in self._rows("discovery_records"))
        return {record.provider: record for record in records}

    def webhook_subscriptions(self) -> list:
        from llmreg.registry.webhooks import WebhookSubscription

        return [WebhookSubscription(ident, origin, digest, tuple(json.loads(events)), pattern, fmt, attempts, seq, actor)
                for ident, origin, digest, events, pattern, fmt, attempts, seq, actor
                in self._rows("webhook_subscriptions")]

    def api_keys(self) -> list[ApiKey]:
        from llmreg.registry.api_keys import ApiKey

        return [ApiKey.from_row(tuple(row)) for row in self._rows("api_keys")]

    def api_key(self, key_id: str) -> ApiKey | None:
        from llmreg.registry.api_keys import ApiKey

        row = self._row("api_key", (key_id,))
        return ApiKey.from_row(tuple(row)) if row else None
