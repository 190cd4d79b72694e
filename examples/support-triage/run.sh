#!/usr/bin/env bash
# support-triage: seed 001's entry walked draft -> staging -> canary -> production with two
# approvers (neither the author), then a prompt revision (minor bump), then a rollback, and
# `resolve --at` answering for moments in between. Uses a throwaway store.
#
#   bash examples/support-triage/run.sh          (LLMREG=/path/to/llmreg to pick the binary)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../script_prologue.sh"  # $LLMREG, a throwaway store, cd "$here", run, refused

now() { date -u +%Y-%m-%dT%H:%M:%S.%6NZ; }

# Roles first: from here on every write is checked against them.
run roles set roles.yaml --actor admin
# Notifications: ops subscribes its receiver to stage changes and failed gates of support-*.
# Each write below queues its delivery in its own transaction (the outbox); the secret is
# read from $HOOK_SECRET and never enters the log. The receiver is not even running yet.
hook_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
HOOK_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"; export HOOK_SECRET
run webhooks add "http://127.0.0.1:$hook_port/llmreg" --events stage.promoted,stage.rolled_back,gate.failed \
  --name 'support-*' --secret-env HOOK_SECRET --id ops-pager --actor admin
run suite register evals/triage-eval-v4.0.yaml --actor admin
run suite register evals/triage-eval-v4.1.yaml --actor admin

# 1.0.0: the seed entry. draft (development) -> staging: eval score >= the suite threshold.
run register entry.yaml --actor alice
run promote support-triage@1.0.0 --to staging --actor ci-bot
# staging -> canary needs a review by someone other than the author, and a fairness check
# across segments. The seed's eval has no per-region scores, so fairness cannot be assessed:
run review support-triage@1.0.0 --actor carol --notes "per-queue accuracy and escalations checked"
refused promote support-triage@1.0.0 --to canary --actor dana
run eval record support-triage@1.0.0 reports/eval-1.0.0.json --actor ci-bot
run promote support-triage@1.0.0 --to canary --weight 0.1 --actor dana
# canary -> production: canary SLO evidence + two distinct approvers, neither the author.
run evidence support-triage@1.0.0 reports/canary-slo-1.0.0.yaml --kind canary_slo --actor system:slo-guard
refused approve support-triage@1.0.0 --to production --actor alice      # the author
run approve support-triage@1.0.0 --to production --actor bob
refused promote support-triage@1.0.0 --to production --actor dana       # one approval is not enough
refused promote support-triage@1.0.0 --to production --actor alice      # an author's role may not promote
run approve support-triage@1.0.0 --to production --actor dana
run promote support-triage@1.0.0 --to production --actor dana
t_v1="$(now)"

# 1.1.0: the prompt revision. The diff decides the bump: prompt changed -> minor.
run diff support-triage@1.0.0 entry-prompt-v10.yaml
run register entry-prompt-v10.yaml --actor alice
run promote support-triage@1.1.0 --to staging --actor ci-bot
run review support-triage@1.1.0 --actor carol --notes "refund escalations now follow policy"
run promote support-triage@1.1.0 --to canary --weight 0.1 --actor dana
run evidence support-triage@1.1.0 reports/canary-slo-1.1.0.yaml --kind canary_slo --actor system:slo-guard
run approve support-triage@1.1.0 --to production --actor bob
run approve support-triage@1.1.0 --to production --actor dana
run promote support-triage@1.1.0 --to production --actor dana
t_v2="$(now)"

# A rollback drill first: the target `rollback` would pick (1.0.0) is checked (artifacts,
# prompt/tools/policy refs, the template in prompts/, a gateway backend dry run) and the
# result recorded as a rollback.drill event; nothing moves.
run rollback support-triage --drill --prompts prompts --actor dana

# Rollback: one command, audited, back to the previous production version.
run rollback support-triage --reason "refund tickets misrouted after the prompt change" --actor dana

# Time travel: what held production at each moment?
run resolve support-triage --env production --at "$t_v1"      # 1.0.0
run resolve support-triage --env production --at "$t_v2"      # 1.1.0
run resolve support-triage --env production                   # 1.0.0 again
run list support-triage
# Retention: what gc would remove under the default policy (nothing: both versions held
# production within 90 days) and why each version stays. A dry run writes nothing.
run gc --dry-run
run audit log --name support-triage --type stage.promoted --type stage.rolled_back --type approval.granted --type rollback.drill
run audit verify

# Notifications, sent: the receiver was down all along, so the first pass fails and schedules
# a retry (nothing is lost: the deliveries wait in the outbox). Start the receiver (it checks
# each HMAC signature), send again, then read the delivery log.
run webhooks list
run webhooks deliver --once --backoff 0.5
python3 webhook_receiver.py --port "$hook_port" --secret-env HOOK_SECRET > "$work/received.log" &
receiver=$!
run webhooks deliver --wait 20 --backoff 0.5
kill "$receiver"; wait "$receiver" || true
printf '\n# what the receiver verified and got, in order\n'; cat "$work/received.log"
run webhooks deliveries --limit 5
