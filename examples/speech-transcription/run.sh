#!/usr/bin/env bash
# speech-transcription: non-text artifacts (acoustic model weights, LM decoding policy), an
# eval suite segmented by accent with a fairness bound that blocks an unfair version, and a
# staged rollout region by region (environments eu, us, apac).
#
#   bash examples/speech-transcription/run.sh       (LLMREG=/path/to/llmreg to pick the binary)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../script_prologue.sh"  # $LLMREG, a throwaway store, cd "$here", run, refused

to_canary() {  # VERSION REGION: staging (eval) -> review -> canary, in one region
  run promote "transcribe@$1" --to staging --env "$2" --actor ci-bot
  run review "transcribe@$1" --env "$2" --actor carol --notes "per-accent WER reviewed"
  run promote "transcribe@$1" --to canary --env "$2" --weight 0.1 --actor dana
}
to_production() {  # VERSION REGION
  run evidence "transcribe@$1" reports/canary-slo.yaml --kind canary_slo --env "$2" --actor system:slo-guard
  run approve "transcribe@$1" --to production --env "$2" --actor bob
  run approve "transcribe@$1" --to production --env "$2" --actor dana
  run promote "transcribe@$1" --to production --env "$2" --actor dana
}

run gates set gates.yaml --actor admin
run suite register evals/asr-eval.yaml --actor admin

# 1.0.0 in every region.
run register entry-1.0.0.yaml --actor alice
run eval record transcribe@1.0.0 reports/eval-1.0.0.json --actor ci-bot
for region in eu us apac; do to_canary 1.0.0 "$region"; to_production 1.0.0 "$region"; done

# 1.1.0: better overall (0.92 >= 0.88), but en-IN trails en-US by 0.11 > 0.06: the eval failed
# its own fairness check, so staging is refused whatever the overall score (no traffic, no review).
run register entry-1.1.0.yaml --actor alice
run eval record transcribe@1.1.0 reports/eval-1.1.0.json --actor ci-bot
refused promote transcribe@1.1.0 --to staging --env eu --actor ci-bot

# 1.2.0: accent-balanced retrain + LM policy 1.1.0. Staged: eu first, then us; apac waits.
run register entry-1.2.0.yaml --actor alice
run diff transcribe@1.0.0 transcribe@1.2.0
run eval record transcribe@1.2.0 reports/eval-1.2.0.json --actor ci-bot
to_canary 1.2.0 eu
to_production 1.2.0 eu
to_canary 1.2.0 us

for region in eu us apac; do run resolve transcribe --env "$region"; done
run resolve transcribe --env us --stage canary
run list transcribe
run verify transcribe@1.2.0
run card transcribe@1.2.0
