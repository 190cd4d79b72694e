"""Partitions: one dynamic partition per followed provider snapshot (`provider/snapshot`)."""
import dagster as dg

PROVIDER_SNAPSHOTS = "provider_snapshots"

provider_snapshots = dg.DynamicPartitionsDefinition(name=PROVIDER_SNAPSHOTS)
