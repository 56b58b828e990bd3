# The device scripts' shared helpers (source it after setting LOG, and J for run):
#   step MESSAGE   a time-stamped line on stderr and in $LOG
#   run CMD...     CMD's stdout appended to $J, its stderr to $LOG; a failure is logged, not fatal
#   gpu_tests SECONDS NAME FILE...   vitest on FILEs (a `pack.sh --tests` pack) into $OUT/NAME.log,
#                  its tally and first failures logged
#   ab_bench BUILD NAME ARG...   `csattn bench --json ARG...` of the build .ab/BUILD (ab-build.sh) into
#                  $OUT/bench-NAME.jsonl (stopped after T seconds, default 150), its summary logged
step() { echo "[$(date +%T)] $*" | tee -a "$LOG" >&2; }
run() { "$@" >> "$J" 2>> "$LOG" || step "failed: $* (see $(basename "$LOG"))"; }
gpu_tests() {
  NO_COLOR=1 timeout "$1" node node_modules/vitest/vitest.mjs run "${@:3}" > "$OUT/$2.log" 2>&1
  step "$2 rc $?: $(grep -E '^ +Tests ' "$OUT/$2.log" | tr -s ' ')"
  grep -E "×|FAIL" "$OUT/$2.log" | head -8 | tee -a "$LOG" >&2
}
ab_bench() {
  local build=$1 name=$2; shift 2
  timeout "${T:-150}" node ".ab/$build/bin/csattn.js" bench --json --log-level warn "$@" > "$OUT/bench-$name.jsonl" 2>> "$OUT/bench.err" || step "$name rc $?"
  node scripts/bench/summary.mjs "$OUT/bench-$name.jsonl" 2>&1 | tee -a "$LOG"
}
