"""What an application gets when it resolves (name, env): the pinned release tuple.

`Resolved` is frozen: everything needed to make the call (model snapshot, prompt ref and
hash, params, tools, retrieval, policy, artifacts) plus the version to log on every call.
The lookup itself and its cache live in `Registry.resolve` (api.py); this module holds
the result type and the argument rules shared by the API and the CLI.

Its `Entry` is built on first use: `document()` answers from the stored entry as written
(validated then, and covered by the log's hash), so `llmreg resolve` never loads the
value objects (spec.py and dataclasses with it: a fifth of a cold process).
"""
from __future__ import annotations

from datetime import datetime, timezone  # sqlite3 loads it anyway

from llmreg.registry.errors import BadInput
from llmreg.registry.fields import thaw
from llmreg.registry.frozen import Frozen, _set
from llmreg.registry.patterns import lazy_re

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Mapping

    from llmreg.registry.entry import ArtifactRef, Entry, EntrySpec, ModelRef

DEFAULT_ENV = "default"
RESOLVABLE_STAGES = ("staging", "canary", "production")
STAGE_NAMES = ("development", "staging", "canary", "production", "archived", "retired")
ENV_RE = lazy_re(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class Resolved(Frozen):
    """The tuple holding `stage` of `env`: pass `model`, `params`, ... to the client, log `version`.

    `entry` is the registered Entry, or a function that reads it (`Queries.resolve` passes
    one): it runs once, on the first access that needs the value objects, and `document`,
    when given, is the stored entry (`Entry.to_dict()` form) that `to_dict()` reads meanwhile.
    """

    __slots__ = ("name", "version", "env", "stage", "weight", "seq", "since", "at", "_entry", "_document")
    name: str
    version: str
    env: str
    stage: str
    weight: float | None  # canary traffic share; None for other stages
    seq: int  # the event that put this version in this stage
    since: str  # when it did (UTC)
    at: str | None  # set for time-travel answers: the moment asked about
    _entry: "Entry | Callable[[], Entry]"  # the Entry, or the function that builds it
    _document: "Mapping[str, Any] | None"  # the stored entry, until the Entry is built

    def __init__(self, name: str, version: str, env: str, stage: str, weight: float | None, seq: int, since: str,
                 entry: "Entry | Callable[[], Entry]", at: str | None = None, *,
                 document: "Mapping[str, Any] | None" = None):
        super().__init__(name, version, env, stage, weight, seq, since, at)
        _set(self, "_entry", entry)
        _set(self, "_document", document)

    @property
    def entry(self) -> "Entry":
        entry = self._entry
        if callable(entry):  # an Entry is not callable
            entry = entry()
            _set(self, "_entry", entry)  # racing threads build equal entries; either may stay
            _set(self, "_document", None)
        return entry

    def _values(self) -> tuple:
        return (*super()._values(), self.entry)

    def __getstate__(self) -> dict:
        return dict(super().__getstate__(), _entry=self.entry)

    def document(self) -> "Mapping[str, Any]":
        """The registered entry as stored ({"spec": ..., "version": ..., ...}): READ-ONLY."""
        return self.entry.to_dict() if self._document is None else self._document

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def spec(self) -> "EntrySpec":
        return self.entry.spec

    @property
    def model(self) -> str:
        """The pinned model name to send to the provider (snapshot, or hf id@revision)."""
        return self.entry.spec.model.request_id

    @property
    def model_ref(self) -> "ModelRef":
        return self.entry.spec.model

    @property
    def prompt_ref(self) -> str | None:
        return self.entry.spec.prompt_ref

    @property
    def prompt_sha256(self) -> str | None:
        return self.entry.spec.prompt_sha256

    @property
    def params(self) -> Mapping[str, Any]:
        return self.entry.spec.params

    @property
    def tools_ref(self) -> str | None:
        return self.entry.spec.tools_ref

    @property
    def retrieval(self) -> Mapping[str, Any]:
        return self.entry.spec.retrieval

    @property
    def policy_ref(self) -> str | None:
        return self.entry.spec.policy_ref

    @property
    def artifacts(self) -> "tuple[ArtifactRef, ...]":
        return self.entry.spec.artifacts

    def to_dict(self) -> dict[str, Any]:
        document = self.document()
        spec = document["spec"]
        out = {"name": self.name, "version": self.version, "env": self.env, "stage": self.stage,
               "weight": self.weight, "seq": self.seq, "since": self.since, "model": request_id(spec["model"]),
               "spec": thaw(spec), "imported": document["bump"] == "import"}
        if self.at is not None:
            out["at"] = self.at
        return out


def request_id(model: Mapping[str, Any]) -> str:
    """The model name to send to the provider or server, from a stored model mapping: the
    snapshot when set, else the id (`ModelRef.request_id` is this rule)."""
    return model.get("snapshot") or model["id"]


def check_env(env: Any, field: str = "env") -> str:
    if not isinstance(env, str) or not ENV_RE.match(env):
        raise BadInput(f"{field}: {env!r} is not an environment name; use lowercase letters, digits and ._- "
                       "(e.g. 'default', 'eu', 'us')", field=field)
    if env in STAGE_NAMES:
        raise BadInput(f"{field}: {env!r} is a stage, not an environment; environments are deployment targets "
                       f"such as 'default', 'eu' or 'us' (promote with --to {env} --env default)", field=field)
    return env


def env_and_stage(env: str, stage: str | None) -> tuple[str, str]:
    """The CLI's seed spelling: `--env production` without --stage means env 'default', stage
    'production'. `Registry.resolve` itself never reads env as a stage; the CLI calls this."""
    if stage is None:
        if env in RESOLVABLE_STAGES:
            return DEFAULT_ENV, env
        stage = "production"
    elif stage not in RESOLVABLE_STAGES:
        raise BadInput(f"stage: {stage!r} cannot be resolved; use one of {', '.join(RESOLVABLE_STAGES)}", field="stage")
    return check_env(env), stage


# The store keeps times as fixed-width UTC text ("YYYY-MM-DDTHH:MM:SS.ffffffZ") and compares
# them as text, which is time order only for four-digit years: earlier times are refused.
EARLIEST = datetime(1000, 1, 1, tzinfo=timezone.utc)
_RANGE = "from 1000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z (UTC)"


def parse_at(at: Any, field: str = "at") -> str:
    """A moment as the store's fixed-width UTC text. Naive times and dates are taken as UTC;
    a time outside years 1000..9999 in UTC is BadInput naming the range."""
    if isinstance(at, datetime):
        return _utc_text(at, at, field)
    if isinstance(at, (int, float)) and not isinstance(at, bool):
        try:
            moment = datetime.fromtimestamp(at, timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise _out_of_range(at, field) from None
        return _utc_text(moment, at, field)
    if isinstance(at, str):
        text = at.strip()
        if text.lower() == "now":
            return _utc_text(datetime.now(timezone.utc), at, field)
        try:
            moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            shown = repr(at) if len(at) <= 60 else repr(at[:40]) + "..."
            raise BadInput(f"{field}: {shown} is not a time; use ISO-8601 such as 2026-06-10T14:02:00Z "
                           "(UTC when no offset is given)", field=field) from None
        return _utc_text(moment, at, field)
    raise BadInput(f"{field}: {at!r} is not a time; pass a datetime or ISO-8601 text", field=field)


def _utc_text(moment: datetime, given: Any, field: str = "at") -> str:
    from llmreg.registry.events import format_time

    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        utc = moment.astimezone(timezone.utc)  # an offset can carry year 9999 or year 1 out of range
    except (OverflowError, ValueError):
        raise _out_of_range(given, field) from None
    if utc < EARLIEST:
        raise _out_of_range(given, field)
    return format_time(utc)


def _out_of_range(given: Any, field: str = "at") -> BadInput:
    return BadInput(f"{field}: {given!r} is outside the times the registry holds, {_RANGE}; give a time in that range",
                    field=field)
