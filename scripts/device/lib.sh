# The device scripts' shared helpers (source it after setting LOG, and J for run):
#   step MESSAGE   a time-stamped line on stderr and in $LOG
#   run CMD...     CMD's stdout appended to $J, its stderr to $LOG; a failure is logged, not fatal
step() { echo "[$(date +%T)] $*" | tee -a "$LOG" >&2; }
run() { "$@" >> "$J" 2>> "$LOG" || step "failed: $* (see $(basename "$LOG"))"; }
