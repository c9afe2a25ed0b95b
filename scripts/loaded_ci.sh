#!/usr/bin/env bash
# The whole CI (.ci/run) several times in a row, each on a fresh clone of one commit, with
# two busy processes competing for the CPU (as `stress --cpu 2` would). The busy processes
# pause while scripts/policy_days.py simulates: its simulations load the machine themselves.
# The second clone is made beside ../shared (the shared data present), the others in /tmp
# without it. Stops at the first failing run; one line per run in $OUT/summary.txt.
#
#   scripts/loaded_ci.sh [COMMIT] [RUNS]      e.g. scripts/loaded_ci.sh HEAD 3
set -uo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
COMMIT="$(git -C "$SRC" rev-parse "${1:-HEAD}")"
RUNS="${2:-3}"
OUT="${OUT:-/tmp/loaded-ci}"
mkdir -p "$OUT"
yes > /dev/null & Y1=$!
yes > /dev/null & Y2=$!
(
  while kill -0 "$Y1" 2>/dev/null; do
    if pgrep -f "scripts/policy_days.py" >/dev/null; then
      kill -STOP "$Y1" "$Y2" 2>/dev/null
    else
      kill -CONT "$Y1" "$Y2" 2>/dev/null
    fi
    sleep 2
  done
) &
WATCH=$!
trap 'kill -CONT $Y1 $Y2 2>/dev/null; kill $WATCH $Y1 $Y2 2>/dev/null' EXIT
for i in $(seq "$RUNS"); do
  if [ "$i" = 2 ]; then dir="$(dirname "$SRC")/loaded-ci-$i"; else dir="/tmp/loaded-ci/clone-$i"; fi
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  git clone -q "$SRC" "$dir" && git -C "$dir" checkout -q "$COMMIT"
  start=$(date +%s)
  (cd "$dir" && ./.ci/run) > "$OUT/run$i.log" 2>&1
  rc=$?
  result=$(grep -E '^=+ .*(passed|failed)' "$OUT/run$i.log" | tail -1)
  echo "run $i ${COMMIT:0:7} $dir rc=$rc $(( $(date +%s) - start ))s $result" >> "$OUT/summary.txt"
  [ "$rc" -ne 0 ] && exit "$rc"
done
