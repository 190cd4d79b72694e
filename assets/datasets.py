"""Datasets: the raw ticket corpus and its train/eval splits, each with a version id."""

import dagster as dg

from assets.step_runner import run_step
from pipelines.resources import ProjectResource

GROUP = "datasets"


@dg.asset(group_name=GROUP, kinds={"parquet", "pandas"},
          description="Synthetic support tickets: text, triage label (5 queues), region segment.")
def support_tickets(context: dg.AssetExecutionContext, project: ProjectResource) -> dg.MaterializeResult:
    from training import corpus
    from training.dataset_versions import record_dataset_versions
    from training.params import load_data_params, read_params_file

    seconds = run_step(context, project.root_path, "training.corpus", corpus.main)
    p = load_data_params(project.params_file)
    versions = record_dataset_versions({"raw": project.path(p.raw_path)}, run_id=context.run.run_id,
                                       params=read_params_file(project.params_file))
    return dg.MaterializeResult(metadata={
        "path": p.raw_path,
        "rows": p.n_tickets,
        "dataset_version": versions["raw"],
        "seconds": round(seconds, 2),
    })


@dg.multi_asset(
    specs=[
        dg.AssetSpec("train_tickets", group_name=GROUP, kinds={"parquet"}, deps=["support_tickets"],
                     description="Stratified train split."),
        dg.AssetSpec("eval_tickets", group_name=GROUP, kinds={"parquet"}, deps=["support_tickets"],
                     description="Stratified held-out split the eval suite scores on."),
    ]
)
def ticket_splits(context: dg.AssetExecutionContext, project: ProjectResource):
    from training import splits
    from training.dataset_versions import record_dataset_versions
    from training.outputs import read_parquet
    from training.params import load_data_params, read_params_file

    seconds = run_step(context, project.root_path, "training.splits", splits.main)
    p = load_data_params(project.params_file)
    paths = {"train": p.train_path, "eval": p.eval_path}
    versions = record_dataset_versions({k: project.path(v) for k, v in paths.items()},
                                       run_id=context.run.run_id, params=read_params_file(project.params_file))
    for split, key in (("train", "train_tickets"), ("eval", "eval_tickets")):
        df = read_parquet(project.path(paths[split]))
        yield dg.MaterializeResult(asset_key=key, metadata={
            "path": paths[split],
            "rows": len(df),
            "dataset_version": versions[split],
            "labels": dg.MetadataValue.json(df["label"].value_counts().sort_index().to_dict()),
            "segments": dg.MetadataValue.json(df["segment"].value_counts().sort_index().to_dict()),
            "seconds": round(seconds, 2),
        })
