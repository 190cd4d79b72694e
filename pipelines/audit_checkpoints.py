"""Publishing the registry's checkpoints: `audit_checkpoint_schedule` (hourly, or
$LLMREG_CHECKPOINT_CRON) runs `audit_checkpoint_job`, which audits the store in full, signs a
checkpoint of its head (registry id, seq, head hash, time) with the auditor's service key and
commits it to a git repository: `<folder>/<registry id>/<seq>.json`, by default in the
project's own repository, so every clone carries the witnesses (llmreg/registry/witness.py).
The gateway refuses to start on a store that no longer extends the newest one.

The signer is `system:auditor` (the shipped `auditor` role: read). Its key: `key` in the run
config, else $LLMREG_KEYRING/system:auditor.key, else $LLMREG_SIGNING_KEY. Whoever checks a
checkpoint must trust that key: bind it to system:auditor in the roles' signers (`llmreg
roles set roles.yaml --signers FILE`), or hand them an allowed-signers file (`--trust FILE`).
A log that fails the audit gets no checkpoint, nor does a signer the checkers would not trust:
the run fails with one line saying why.
"""

import dagster as dg

from assets.resources import ProjectResource, RegistryResource
from pipelines.ops_schedules import stopped_schedule

CHECKPOINT_CRON = "0 * * * *"  # hourly; LLMREG_CHECKPOINT_CRON overrides it when the location loads
AUDITOR = "system:auditor"


class AuditCheckpointConfig(dg.Config):
    repo: str = ""  # a git work tree; empty: the project's own repository (ProjectResource.root)
    folder: str = "audit/checkpoints"
    actor: str = AUDITOR
    key: str = ""  # the auditor's private key file; empty: $LLMREG_KEYRING/<actor>.key, $LLMREG_SIGNING_KEY
    trust_file: str = ""  # the allowed-signers file checkers use (the gateway's checkpoints.trust_file), if any


@dg.op(description="Audit the registry in full, sign a checkpoint of its head with the auditor's key and commit "
                   "it to the configured git repository.")
def audit_checkpoint(context: dg.OpExecutionContext, config: AuditCheckpointConfig, registry: RegistryResource,
                     project: ProjectResource) -> dict:
    from llmreg.registry.errors import RegistryError
    from llmreg.registry.identity import KeySource
    from llmreg.registry.witness import check_checkpoint, take_checkpoint, trusted_signers, write_checkpoint_to_git

    repo = config.repo or str(project.root_path)
    try:
        key = KeySource(key=config.key or None).key_for(config.actor)
        reg = registry.open()
        cp = take_checkpoint(reg, key)
        # A checkpoint its checkers would not trust is worse than none (the gateway refuses to
        # start on it): fail here, where the fix is, instead.
        trusted = check_checkpoint(reg, cp, trusted_signers(reg, config.trust_file or None))
        if not trusted.ok:
            raise dg.Failure(description=f"no checkpoint published: {trusted.reason}; bind {config.actor}'s key "
                                         "in the roles' signers (llmreg roles set roles.yaml --signers FILE) or "
                                         "list it in the checkers' trust_file")
        path, sha = write_checkpoint_to_git(repo, cp, folder=config.folder)
    except RegistryError as exc:
        raise dg.Failure(description=f"no checkpoint published: {exc}") from None
    context.log.info(f"checkpoint #{cp.seq} {cp.head_hash} of {cp.registry_id} signed by {cp.signer} "
                     f"({config.actor}) committed to {repo} as {sha}")
    context.add_output_metadata({"seq": cp.seq, "head_hash": cp.head_hash, "registry_id": cp.registry_id,
                                 "signer": cp.signer, "path": path, "commit": sha or ""})
    return {"path": path, "commit": sha, **cp.to_dict()}


@dg.job(executor_def=dg.in_process_executor,
        description="Publish a signed checkpoint of the registry's log to a git repository.")
def audit_checkpoint_job():
    audit_checkpoint()


def build_audit_checkpoint_schedule(cron: str = CHECKPOINT_CRON) -> dg.ScheduleDefinition:
    return stopped_schedule("audit_checkpoint_schedule", audit_checkpoint_job, cron,
                            "Hourly signed checkpoint of the registry's log, committed to git "
                            "(llmreg audit checkpoint).")


audit_checkpoint_schedule = build_audit_checkpoint_schedule()
