#!/usr/bin/env bash
# multimodal-moderation: an image model pinned to a versioned moderation-policy artifact.
# Changing only the policy is a minor bump, and the new version cannot be promoted until it
# has been re-evaluated: the staging gate refuses, an eval is recorded, then it passes.
#
#   bash examples/multimodal-moderation/run.sh       (LLMREG=/path/to/llmreg to pick the binary)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../script_prologue.sh"  # $LLMREG, a throwaway store, cd "$here", run, refused

release() {  # VERSION: staging is done; review -> canary -> SLO -> two approvals -> production
  run review "image-studio@$1" --actor carol --notes "blocked/allowed samples checked by trust & safety"
  run promote "image-studio@$1" --to canary --weight 0.05 --actor dana
  run evidence "image-studio@$1" reports/canary-slo.yaml --kind canary_slo --actor system:slo-guard
  run approve "image-studio@$1" --to production --actor bob
  run approve "image-studio@$1" --to production --actor dana
  run promote "image-studio@$1" --to production --actor dana
}

run suite register evals/moderation-eval-1.0.0.yaml --actor admin
run suite register evals/moderation-eval-1.1.0.yaml --actor admin
run register entry.yaml --actor alice
run eval record image-studio@1.0.0 reports/eval-1.0.0.json --actor ci-bot
run promote image-studio@1.0.0 --to staging --actor ci-bot
release 1.0.0

# The policy changes; nothing else does.
run diff image-studio@1.0.0 entry-policy-1.1.0.yaml
run register entry-policy-1.1.0.yaml --actor alice
# 1.0.0's eval certified 1.0.0's policy, not this one: staging is refused until 1.1.0 is evaluated.
refused promote image-studio@1.1.0 --to staging --actor ci-bot
# The first re-evaluation misses the bar (0.85 < 0.9): refused again. The second passes.
run eval record image-studio@1.1.0 reports/eval-1.1.0-first-run.json --actor ci-bot
refused promote image-studio@1.1.0 --to staging --actor ci-bot
run eval record image-studio@1.1.0 reports/eval-1.1.0.json --actor ci-bot
run promote image-studio@1.1.0 --to staging --actor ci-bot
release 1.1.0

run resolve image-studio
run audit log --name image-studio --type gate.failed --type eval.recorded
run verify image-studio
# Rolling back brings the old policy back with the old version.
run rollback image-studio --reason "over-blocking" --actor dana
run resolve image-studio
