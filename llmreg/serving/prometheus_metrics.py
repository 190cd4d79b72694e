"""Prometheus metrics for `GET /metrics`: requests, latency, time to first token, tokens and
errors, labelled by entry, version, variant and endpoint.

One CollectorRegistry per gateway (not the process-global one), so several gateways in one
process (tests, benchmarks) keep separate counts. Under `llmreg serve --workers N`
(PROMETHEUS_MULTIPROC_DIR set before the workers start) every worker writes its series to
files in that directory and /metrics, whichever worker answers it, adds up all of them:
counters and histograms only, which add up exactly across processes. Labels are bounded: entries and versions
the registry knows, the variant, the endpoint, the HTTP status class.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

log = logging.getLogger("llmreg.gateway")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LABELS = ("entry", "version", "variant", "endpoint")


class GatewayMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("llmreg_gateway_requests", "Gateway calls by outcome", LABELS + ("status",),
                                registry=self.registry)
        self.errors = Counter("llmreg_gateway_errors", "Calls answered with an error, by HTTP status",
                              LABELS + ("status",), registry=self.registry)
        self.latency = Histogram("llmreg_gateway_request_seconds", "Gateway receive -> last byte ready",
                                 LABELS, buckets=LATENCY_BUCKETS, registry=self.registry)
        self.ttft = Histogram("llmreg_gateway_time_to_first_token_seconds",
                              "Backend call start -> first streamed token", LABELS, buckets=LATENCY_BUCKETS,
                              registry=self.registry)
        self.tokens = Counter("llmreg_gateway_tokens", "Tokens processed", LABELS + ("kind",),
                              registry=self.registry)
        self._children: dict[tuple[Any, ...], tuple[Any, ...]] = {}

    def _series(self, labels: tuple[str, ...], status: int) -> tuple[Any, ...]:
        """The children for one label set, looked up once (a `labels()` call costs a lock and a
        dict walk; this is on every request)."""
        key = (*labels, status)
        series = self._children.get(key)
        if series is None:
            text = str(status)
            series = (self.requests.labels(*labels, text), self.errors.labels(*labels, text) if status >= 400 else None,
                      self.latency.labels(*labels), self.ttft.labels(*labels),
                      self.tokens.labels(*labels, "prompt"), self.tokens.labels(*labels, "completion"))
            self._children[key] = series
        return series

    def observe(self, row: Mapping[str, Any]) -> None:
        labels = (row.get("name") or "-", row.get("version") or "-", row.get("variant") or "-",
                  row.get("endpoint") or "-")
        requests, errors, latency, ttft_series, prompt, completion = self._series(labels, int(row.get("status") or 0))
        requests.inc()
        if errors is not None:
            errors.inc()
        latency.observe((row.get("latency_ms") or 0.0) / 1000.0)
        ttft = row.get("ttft_ms")
        if ttft is not None:
            ttft_series.observe(ttft / 1000.0)
            log.info("request %s %s: time to first token %.1f ms", row.get("request_id"), labels[0], ttft)
        if row.get("prompt_tokens"):
            prompt.inc(row["prompt_tokens"])
        if row.get("completion_tokens"):
            completion.inc(row["completion_tokens"])

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            every_worker = CollectorRegistry()
            multiprocess.MultiProcessCollector(every_worker)
            return generate_latest(every_worker)
        return generate_latest(self.registry)
