"""Schedules. `reevaluate_providers_schedule` (re-running pinned suites against new provider
snapshots) belongs here; it arrives with the provider-snapshot work (issue 4)."""
from __future__ import annotations

schedules: list = []
