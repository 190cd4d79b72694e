"""The gateway's view of the registry: for each (name, env), which version holds which stage.

Requests read an immutable `Route` from a dict: no database on the request path. A
background thread polls the registry's log sequence number (`poll_interval_s`, default
0.2 s) and, when it moved, rebuilds every known route with one pointer query each and
swaps them in, so a promotion or rollback reaches traffic within a poll interval plus
a query. A request keeps the Route (and so the Entry) it started with: a swap mid-request
never changes the version that request runs on or reports.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from llmreg.registry.entry import Entry
from llmreg.registry.errors import NotFound
from llmreg.serving.addressing import Target
from llmreg.serving.assignment import in_split, split_salt
from llmreg.serving.config import GatewayConfig, ShadowConfig

log = logging.getLogger("llmreg.gateway")

MAX_UNREGISTERED_ROUTES = 1000


@dataclass(frozen=True, slots=True)
class Deployment:
    """One version in one role for one environment."""

    name: str
    version: str
    env: str
    stage: str  # production | canary | staging | pinned | shadow
    entry: Entry
    weight: float | None = None
    since: str | None = None  # when it took the stage (pointer time)
    seq: int | None = None  # the event that put it there

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    env: str
    seq: int  # registry head seq this route was built at
    registered: bool
    production: Deployment | None = None
    canary: Deployment | None = None
    staging: Deployment | None = None
    shadow: Deployment | None = None
    shadow_fraction: float = 0.0

    def holder(self, stage: str) -> Deployment | None:
        return {"production": self.production, "canary": self.canary, "staging": self.staging}.get(stage)


class RouteTable:
    def __init__(self, registry: Any, config: GatewayConfig):
        self.registry = registry
        self.poll_interval_s = config.poll_interval_s
        self._shadows: dict[tuple[str, str], ShadowConfig] = {(s.name, s.env): s for s in config.shadows}
        self._routes: dict[tuple[str, str], Route] = {}
        self._pinned: dict[tuple[str, str], Entry] = {}
        self._seq = -1
        self._unregistered = 0
        self._lock = threading.Lock()  # one rebuild at a time
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.rebuilds = 0

    # ------------------------------------------------------------------ reads (request path)
    def cached(self, name: str, env: str) -> Route | None:
        return self._routes.get((name, env))

    def route(self, name: str, env: str) -> Route:
        """The cached route, or build it now (first request for this name/env: one query)."""
        route = self._routes.get((name, env))
        if route is not None:
            return route
        with self._lock:
            route = self._routes.get((name, env))
            if route is None:
                route = self._build(name, env, self._head_seq())
                if route.registered or self._unregistered < MAX_UNREGISTERED_ROUTES:
                    # Unknown names are remembered (no query per request) but only so many:
                    # requests for random names must not grow the table without bound.
                    self._unregistered += not route.registered
                    self._routes[(name, env)] = route
        return route

    def cached_pinned(self, name: str, version: str) -> Entry | None:
        return self._pinned.get((name, version))

    def pinned(self, name: str, version: str) -> Entry:
        key = (name, version)
        entry = self._pinned.get(key)
        if entry is None:
            entry = self.registry.get(name, version)  # entries are immutable: cache forever
            self._pinned[key] = entry
        return entry

    @property
    def seq(self) -> int:
        """The registry head seq the routes were last rebuilt at."""
        return self._seq

    def known(self) -> list[Route]:
        return list(self._routes.values())

    # ------------------------------------------------------------------ refresh
    def _head_seq(self) -> int:
        return int(self.registry.head_seq())

    def _build(self, name: str, env: str, seq: int) -> Route:
        pointers = {p.stage: p for p in self.registry.pointers(name, env)}
        holders = {}
        for stage in ("production", "canary", "staging"):
            p = pointers.get(stage)
            if p is not None:
                holders[stage] = Deployment(name, p.version, env, stage, self.registry.get(name, p.version),
                                            weight=p.weight, since=p.time, seq=p.seq)
        registered = bool(holders) or bool(self.registry.versions(name))
        shadow, fraction = None, 0.0
        config = self._shadows.get((name, env))
        if config is not None and registered:
            shadow, fraction = self._shadow(config, holders), config.fraction
        return Route(name, env, seq, registered, holders.get("production"), holders.get("canary"),
                     holders.get("staging"), shadow, fraction)

    def _shadow(self, config: ShadowConfig, holders: dict[str, Deployment]) -> Deployment | None:
        if config.stage is not None:
            held = holders.get(config.stage)
            return None if held is None else Deployment(held.name, held.version, config.env, "shadow", held.entry)
        try:
            entry = self.pinned(config.name, config.version)
        except NotFound:
            log.warning("shadow %s@%s is not registered; no shadow traffic", config.name, config.version)
            return None
        return Deployment(config.name, config.version, config.env, "shadow", entry)

    def refresh(self, force: bool = False) -> bool:
        """Rebuild every known route if the log moved (or `force`); True when rebuilt."""
        seq = self._head_seq()
        if seq == self._seq and not force:
            return False
        with self._lock:
            fresh = {key: self._build(key[0], key[1], seq) for key in list(self._routes)}
            self._routes.update(fresh)
            self._seq = seq
            self.rebuilds += 1
        return True

    def refresh_soon(self) -> None:
        """Ask the poller to check now (after this process wrote to the registry)."""
        self._wake.set()

    def start(self) -> "RouteTable":
        self._seq = self._head_seq()
        self._thread = threading.Thread(target=self._poll, name="gateway-route-poll", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.refresh()
            except Exception as exc:  # noqa: BLE001 - keep serving the last good routes
                log.warning("route refresh failed (%s); serving the last known routes", exc)


def choose(route: Route, target: Target, caller: str | None) -> tuple[Deployment, str]:
    """The deployment serving this request and its variant name."""
    if not route.registered:
        raise NotFound(f"no entry named {target.name!r} in the registry; check the name (GET /v1/models lists them)")
    if target.stage == "production":
        production = route.production
        if production is None:
            raise NotFound(f"{target.name}: nothing holds production in env {target.env!r}; promote a version "
                           f"(llmreg promote {target.name}@VERSION --to production --env {target.env})")
        canary = route.canary
        if canary is not None and in_split(caller, split_salt(target.name, target.env), canary.weight):
            return canary, "canary"
        return production, "production"
    held = route.holder(target.stage)
    if held is None:
        raise NotFound(f"{target.name}: nothing holds {target.stage} in env {target.env!r}")
    return held, target.stage
