# The start every examples/*/run.sh shares. Sourced, not run, after the script has set
# `here` to its own folder:
#
#   set -euo pipefail
#   here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
#   . "$here/../script_prologue.sh"
#
# It picks the llmreg binary ($LLMREG, else llmreg on PATH, else the repo's .venv), points
# the registry at a throwaway store removed on exit (kept in $LLMREG_EXAMPLE_STORE_DIR when
# that is set), moves into the scenario's folder and defines `run` and `refused`.

LLMREG="${LLMREG:-$(command -v llmreg || echo "$here/../../.venv/bin/llmreg")}"
# absolute, so the binary is still found after `cd "$here"`
case "$LLMREG" in */*) LLMREG="$(cd "$(dirname "$LLMREG")" && pwd)/$(basename "$LLMREG")" ;; esac
if [ -n "${LLMREG_EXAMPLE_STORE_DIR:-}" ]; then  # keep the store there (tests read it afterwards)
  work="$LLMREG_EXAMPLE_STORE_DIR"; mkdir -p "$work"
else
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
fi
export LLMREG_STORE="sqlite:///$work/registry.db" LLMREG_ARTIFACTS="$work/artifacts"
# Every write is signed by its actor's key. A key per person and per bot, as a team holds
# them; here all in one throwaway keyring ($LLMREG_KEYRING/<name>.key picks --actor's key).
# Each person would run `llmreg keys new` once on their own machine instead.
export LLMREG_KEYRING="$work/keys"
for who in admin alice bob carol dana ci ci-bot system:slo-guard; do
  [ -f "$LLMREG_KEYRING/$who.key" ] || "$LLMREG" keys new --out "$LLMREG_KEYRING/$who.key" --comment "$who@example" >/dev/null
done
cd "$here"

run() { printf '\n$ llmreg %s\n' "$*"; "$LLMREG" "$@"; }
refused() {  # the registry must refuse (exit 1) and say why on one line
  printf '\n$ llmreg %s   # expected: refused\n' "$*"
  local rc=0; "$LLMREG" "$@" || rc=$?
  [ "$rc" -eq 1 ] || { echo "run.sh: expected exit 1 (refused), got $rc" >&2; exit 1; }
}
