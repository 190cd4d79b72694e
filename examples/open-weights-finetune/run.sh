#!/usr/bin/env bash
# open-weights-finetune: the pipeline's own product registered and deployed. The entry
# (written by `python -m training.release`, see build.sh) names the dataset versions, the
# base model pinned by checksum, the LoRA adapter (checksum), the eval that certified it,
# and the training config; `llmreg vllm-command` prints the `vllm serve` line that pulls
# the registry-tagged (re-hashed) base model and adapter for the resolved version.
#
#   bash examples/open-weights-finetune/run.sh      (LLMREG=/path/to/llmreg to pick the binary)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../script_prologue.sh"  # $LLMREG, a throwaway store, cd "$here", run, refused

run suite register evals/triage-eval.yaml --actor admin
# Registration hashes models/base and models/adapter and copies them into the artifact store.
run register entry.yaml --actor ci-bot
run lineage triage-open-weights@1.0.0 --format mermaid
run promote triage-open-weights@1.0.0 --to staging --actor ci-bot
run review triage-open-weights@1.0.0 --actor carol --notes "tuned 0.76 vs base 0.00; segment gap 0.09"
run promote triage-open-weights@1.0.0 --to canary --weight 0.2 --actor dana

# The canary's vLLM server: same base, the adapter under its registry name.
run vllm-command triage-open-weights --stage canary
run evidence triage-open-weights@1.0.0 evidence-canary-slo.yaml --kind canary_slo --actor system:slo-guard
run approve triage-open-weights@1.0.0 --to production --actor bob
run approve triage-open-weights@1.0.0 --to production --actor dana
run promote triage-open-weights@1.0.0 --to production --actor dana

# Production: the command, and what a client sends to it.
run vllm-command triage-open-weights --env default --port 8000
run vllm-command triage-open-weights --json
run verify triage-open-weights@1.0.0
