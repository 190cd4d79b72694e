"""Registry: the release tuple registered as a `development` version.

Its materializations are the registrations; the registry's later events about the entry
(promotions, approvals, rollbacks, gate failures, checkpoints) arrive as observations on the
same asset (pipelines/audit.py), so its event history in the UI is the release's timeline.
"""

import base64
import json

import dagster as dg

from assets.config import ParamsConfig
from assets.resources import ProjectResource, RegistryResource
from training.dataset_versions import tag_release
from training.release import register_release, release_step

GROUP = "registry"
DATASET_ASSETS = {"train": "train_tickets", "eval": "eval_tickets"}


def _dataset_versions(context: dg.AssetExecutionContext) -> dict[str, str] | None:
    """The version ids the dataset assets recorded, so UI lineage and registry lineage agree."""
    versions = {}
    for role, key in DATASET_ASSETS.items():
        event = context.instance.get_latest_materialization_event(dg.AssetKey(key))
        meta = event.asset_materialization.metadata if event and event.asset_materialization else {}
        if "dataset_version" not in meta:
            return None
        versions[role] = meta["dataset_version"].value
    return versions


@dg.asset(group_name=GROUP, kinds={"sqlite"}, code_version="registry-entry-2",
          deps=["evaluation_report", "lora_adapter", "base_model", "train_tickets", "eval_tickets"],
          description="The release tuple (base model + adapter checksums, prompt, params, dataset "
                      "versions, eval, lineage) registered in llm-registry.")
def registry_entry(context: dg.AssetExecutionContext, config: ParamsConfig, project: ProjectResource,
                   registry: RegistryResource) -> dg.MaterializeResult:
    params = config.to_params(project.params_file)
    # The release tuple file first, exactly as dvc.yaml's release_tuple stage writes it; then
    # the registration, which brings dvc.lock up to date and checks it describes the bytes.
    release_step(params, project.root_path)
    reg = registry.open()
    done = register_release(reg, params, project.root_path, actor=registry.actor, run_id=context.run.run_id,
                            datasets=_dataset_versions(context))
    entry, spec, lineage = done.entry, done.entry.spec, done.entry.spec.lineage
    if not done.lock.reproducible_from_dvc:
        context.log.warning(
            f"{entry.ref}: NOT reproducible from DVC at commit {str(lineage.get('git_commit'))[:12]}: "
            f"dvc.lock does not describe {', '.join(done.lock.committed or done.lock.working) or 'the outputs'}"
            + (f" ({done.lock.note})" if done.lock.note else "") + "; commit dvc.lock to make it so")
    context.log.info(f"{entry.ref} {'registered' if done.created else 're-evaluated (tuple unchanged)'}")
    tags = tag_release(dict(spec.datasets), entry.ref, params=params.as_mapping())  # lakeFS versions only
    history = _score_history(reg, spec.name, project.path("metrics/score_history.png"))
    return dg.MaterializeResult(data_version=dg.DataVersion(entry.ref), metadata={
        "entry": entry.ref,
        "version": entry.version,
        "created": done.created,
        "bump": entry.bump,
        "stages": dg.MetadataValue.json(_plain(reg.status(spec.name).versions.get(entry.version, {}))),
        "base_model_sha256": spec.model.sha256,
        "adapter_sha256": spec.artifacts[0].sha256 if spec.artifacts else None,
        "dataset_versions": dg.MetadataValue.json(_plain(spec.datasets)),
        "eval_score": spec.eval.score if spec.eval else None,
        "eval_run": spec.eval.run if spec.eval else None,
        "git_commit": lineage.get("git_commit"),
        "dvc_lock_sha256": lineage.get("dvc_lock_sha256"),
        "reproducible_from_dvc": done.lock.reproducible_from_dvc,
        "output_digests": dg.MetadataValue.json(_plain(lineage.get("output_digests") or {})),
        "dataset_tags": dg.MetadataValue.json(tags),
        **({"score_history": history} if history else {}),
    })


def _plain(value):
    """Read-only mappings from the entry as plain JSON values."""
    return json.loads(json.dumps(value, default=dict))


def _score_history(reg, name: str, out) -> dg.MetadataValue | None:
    """The registry's eval history for this entry as a PNG, inlined so the UI shows it."""
    from evals.history import plot_registry_history

    path = plot_registry_history(reg, name, out)
    if path is None:
        return None
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return dg.MetadataValue.md(f"![score history](data:image/png;base64,{data})\n\n`{path}`")
