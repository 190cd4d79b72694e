"""Schedules: `reevaluate_providers_schedule` re-runs the pinned suites against every followed
provider snapshot (defined with its sensor and job in pipelines/providers.py)."""
from __future__ import annotations

from pipelines.providers import reevaluate_providers_schedule

schedules: list = [reevaluate_providers_schedule]
