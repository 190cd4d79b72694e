#!/usr/bin/env bash
# rag-stack: embedding model + vector index (content hash of its files) + reranker + generator
# + prompt versioned as one tuple. Refreshing only the index is a minor bump and `llmreg diff`
# names exactly the retrieval component that moved; a new embedder moves embedder and index.
#
#   bash examples/rag-stack/run.sh       (LLMREG=/path/to/llmreg to pick the binary)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../script_prologue.sh"  # $LLMREG, a throwaway store, cd "$here", run, refused

release() {  # eval -> staging -> review -> canary -> SLO evidence -> two approvals -> production
  run eval record "kb-answers@$1" "reports/eval-$1.json" --actor ci-bot
  run promote "kb-answers@$1" --to staging --actor ci-bot
  run review "kb-answers@$1" --actor carol --notes "citations checked per topic"
  run promote "kb-answers@$1" --to canary --weight 0.1 --actor dana
  run evidence "kb-answers@$1" reports/canary-slo.yaml --kind canary_slo --actor system:slo-guard
  run approve "kb-answers@$1" --to production --actor bob
  run approve "kb-answers@$1" --to production --actor dana
  run promote "kb-answers@$1" --to production --actor dana
}

run suite register evals/kb-answer-eval.yaml --actor admin
run register entry.yaml --actor alice
release 1.0.0

# The knowledge base changed: rebuild the index (same embedder) and register. Only the index moved.
run diff kb-answers@1.0.0 entry-index-2026-07-01.yaml
run register entry-index-2026-07-01.yaml --actor alice
release 1.1.0

# A new embedding model: embedder and index move together; reranker, prompt and generator do not.
run register entry-embedder-2.0.0.yaml --actor alice
run diff kb-answers@1.1.0 kb-answers@1.2.0
run eval record kb-answers@1.2.0 reports/eval-1.2.0.json --actor ci-bot
run promote kb-answers@1.2.0 --to staging --actor ci-bot

run resolve kb-answers --json
run resolve kb-answers --stage staging
run lineage kb-answers@1.1.0 --format mermaid
run verify kb-answers
