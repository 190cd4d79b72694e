#!/usr/bin/env bash
# code-assistant: one application, two model families (code-specialised completion + general
# chat) as two entries released together, exposed cohort by cohort through the canary
# mechanism: each cohort is an environment, internal testers first, then early access.
#
#   bash examples/code-assistant/run.sh       (LLMREG=/path/to/llmreg to pick the binary)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../script_prologue.sh"  # $LLMREG, a throwaway store, cd "$here", run, refused

quiet() { "$LLMREG" "$@" >/dev/null; }  # the same gates, without the output
ENTRIES=(code-assistant-complete code-assistant-chat)

canary() {  # VERSION-OF-COMPLETE VERSION-OF-CHAT ENV WEIGHT: both entries, one cohort
  local env="$3" weight="$4" v
  for pair in "code-assistant-complete@$1" "code-assistant-chat@$2"; do
    quiet promote "$pair" --to staging --env "$env" --actor ci-bot
    quiet review "$pair" --env "$env" --actor carol --notes "eval per segment checked"
    run promote "$pair" --to canary --env "$env" --weight "$weight" --evidence "reports/cohort-$env.yaml" --actor dana
  done
}
production() {  # VERSION-OF-COMPLETE VERSION-OF-CHAT ENV
  for pair in "code-assistant-complete@$1" "code-assistant-chat@$2"; do
    quiet evidence "$pair" reports/canary-slo.yaml --kind canary_slo --env "$3" --actor system:slo-guard
    quiet approve "$pair" --to production --env "$3" --actor bob
    quiet approve "$pair" --to production --env "$3" --actor dana
    run promote "$pair" --to production --env "$3" --actor dana
  done
}

for suite in evals/code-completion-eval.yaml evals/code-chat-eval-1.0.0.yaml evals/code-chat-eval-1.1.0.yaml; do
  run suite register "$suite" --actor admin
done

# Release train 2026.05 is what every cohort runs today.
run register entry-complete-1.0.0.yaml --actor alice
run register entry-chat-1.0.0.yaml --actor alice
for env in internal early-access everyone; do
  canary 1.0.0 1.0.0 "$env" 0.1
  production 1.0.0 1.0.0 "$env"
done

# Release train 2026.07: a new code model (major) and the chat prompt that goes with it (minor).
run register entry-complete-2.0.0.yaml --actor alice
run register entry-chat-1.1.0.yaml --actor alice

# Internal testers first: the whole cohort on the new pair, then it becomes their production.
canary 2.0.0 1.1.0 internal 1.0
production 2.0.0 1.1.0 internal
# Early access next: a quarter of the cohort on the canary.
canary 2.0.0 1.1.0 early-access 0.25

# What each cohort gets now (the gateway splits canary traffic by weight, sticky per caller).
for env in internal early-access everyone; do
  for name in "${ENTRIES[@]}"; do
    run resolve "$name" --env "$env"
  done
done
run resolve code-assistant-complete --env early-access --stage canary
run list code-assistant-complete
run audit log --type stage.promoted --env early-access --limit 4
