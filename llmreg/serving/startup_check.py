"""Before the gateway serves anything: does the store still extend its newest published checkpoint?

`audit_checkpoint_schedule` (pipelines/ops_schedules.py) commits signed checkpoints to a git
repository (`checkpoints.repo`, default the working directory). At start the gateway reads
the newest one for its store (witness.check_against_newest) and then audits the log after it
(the hash chain from the first event, signatures and rules after the checkpoint): a store
rewritten or truncated below a checkpoint, or edited since, is refused with one line naming
what failed. Nothing published yet: it starts and says so. `checkpoints: {verify: false}` is
the explicit opt-out.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from llmreg.registry.errors import IntegrityError
from llmreg.serving.config import CheckpointsConfig

log = logging.getLogger("llmreg.gateway")


def check_store(registry: Any, config: CheckpointsConfig) -> str:
    """The one line the gateway logs at start; IntegrityError (one line) when it must not start."""
    if not config.verify:
        return "checkpoint check off (checkpoints.verify: false): the store is served unchecked"
    from llmreg.registry.witness import check_against_newest, newest_checkpoint, registry_id

    repo = os.path.abspath(config.repo)
    check = check_against_newest(registry, repo, folder=config.folder, trust_file=config.trust_file)
    if check.kind == "none":
        return f"no published checkpoint yet ({check.reason}): starting; publish with audit_checkpoint_schedule"
    if not check.ok:
        raise IntegrityError(f"gateway not started: the store does not verify against its newest checkpoint in "
                             f"{repo}/{config.folder}: {check.reason}; run `llmreg audit verify --checkpoint FILE` "
                             "(or set checkpoints.verify: false to serve it anyway)")
    newest = newest_checkpoint(repo, registry_id(registry.store), folder=config.folder)
    report = registry.verify_audit(after_seq=newest.seq if newest is not None else 0)
    if not report.ok:
        raise IntegrityError(f"gateway not started: the store extends its newest checkpoint but fails the audit: "
                             f"{report.summary()}")
    return f"store verified against its newest checkpoint: {check.reason}; {report.events} events audited"
