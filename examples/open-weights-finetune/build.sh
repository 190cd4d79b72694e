#!/usr/bin/env bash
# Rebuild this example's artifacts with the project's own pipeline steps (the functions
# `dvc repro` and the Dagster assets call), driven by ./params.yaml:
#   corpus -> splits -> base model -> LoRA adapter -> eval -> release tuple (entry.yaml)
# About a minute on a CPU. The outputs are committed, so run.sh and the tests never train.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PY:-$here/../../.venv/bin/python}"
cd "$here"
rm -rf data models metrics entry.yaml   # a fresh build, never a mix of old and new outputs
"$PY" -m training.corpus --params params.yaml
"$PY" -m training.splits --params params.yaml
"$PY" -m training.base_model --params params.yaml
"$PY" -m training.lora --params params.yaml
"$PY" -m evals.run --suite evals/triage-eval.yaml --base models/base --adapter models/adapter \
    --out metrics/eval.json --runner transformers --threads 1 --no-fail
"$PY" -m training.release --params params.yaml
rm -rf data       # the entry pins the splits by version id (md5, as DVC records it); build.sh rebuilds them from the seed
du -sh "$here"
