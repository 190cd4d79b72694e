"""Datasets: the raw ticket corpus and its train/eval splits, each with a version id."""

import dagster as dg

from assets.config import ParamsConfig
from assets.resources import ProjectResource
from training.corpus import corpus_step
from training.dataset_versions import record_dataset_versions
from training.outputs import read_parquet
from training.splits import splits_step

GROUP = "datasets"


@dg.asset(group_name=GROUP, kinds={"parquet", "pandas"}, code_version="corpus-1",
          description="Synthetic support tickets: text, triage label (5 queues), region segment.")
def support_tickets(context: dg.AssetExecutionContext, config: ParamsConfig,
                    project: ProjectResource) -> dg.MaterializeResult:
    params = config.to_params(project.params_file)
    result = corpus_step(params.data, project.root_path)
    versions = record_dataset_versions({"raw": result.path}, run_id=context.run.run_id, params=params.as_mapping())
    return dg.MaterializeResult(
        metadata={"path": params.data.raw_path, "rows": result.rows, "dataset_version": versions["raw"],
                  "seed": params.data.seed},
        data_version=dg.DataVersion(versions["raw"]),
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec("train_tickets", group_name=GROUP, kinds={"parquet"}, deps=["support_tickets"],
                     code_version="splits-1", description="Stratified train split."),
        dg.AssetSpec("eval_tickets", group_name=GROUP, kinds={"parquet"}, deps=["support_tickets"],
                     code_version="splits-1", description="Stratified held-out split the eval suite scores on."),
    ]
)
def ticket_splits(context: dg.AssetExecutionContext, config: ParamsConfig, project: ProjectResource):
    params = config.to_params(project.params_file)
    result = splits_step(params.data, project.root_path)
    paths = {"train": result.train_path, "eval": result.eval_path}
    versions = record_dataset_versions(paths, run_id=context.run.run_id, params=params.as_mapping())
    for split, key in (("train", "train_tickets"), ("eval", "eval_tickets")):
        df = read_parquet(paths[split])
        yield dg.MaterializeResult(asset_key=key, data_version=dg.DataVersion(versions[split]), metadata={
            "path": str(paths[split].relative_to(project.root_path)),
            "rows": len(df),
            "dataset_version": versions[split],
            "labels": dg.MetadataValue.json(df["label"].value_counts().sort_index().to_dict()),
            "segments": dg.MetadataValue.json(df["segment"].value_counts().sort_index().to_dict()),
        })
