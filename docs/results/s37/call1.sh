# Session 37, call 1: a batch selection attended as unions (csa_union, then attention_prefill_mma
# UNION) on this GPU: the GPU tests of the changed kernels, then B = 4 / 16 CSA at 32K and 128K with
# the union build (new) against main (head), after a warm run, alternated twice.
# Before the call, in the tree: git apply docs/results/s37/patches/union.patch (the code under test,
# uncommitted; landed in session 38, the patch is at git show dc98431:docs/results/s37/patches/union.patch); npm run build && bash scripts/device/pack.sh --tests; bash scripts/device/ab-build.sh new
# (the patched tree); bash scripts/device/ab-build.sh head HEAD (main); fixtures/models out of the tree;
# carry .device, .ab. `bash call1.sh short` (a short budget: the batch and union tests, one B = 16 run each).
# BUDGET: seconds after which no further benchmark run starts (default 420).
t0=$(date +%s)
source .device/setup.sh >/dev/null
LOG=$OUT/call.log; source scripts/device/lib.sh
step "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
# `short`: the batched attention's and the union's tests only.
if [[ ${1:-} == short ]]; then gpu_tests 150 tests test/union.test.ts test/attention.test.ts -t 'batch|union'
else gpu_tests 220 tests test/union.test.ts test/attention.test.ts test/kernels.test.ts; fi
b() { local x=$1 n=$2; shift 2; ab_bench "$x" "$n" --random-context --contexts 32768,131072 "$@"; }
if [[ ${1:-} == short ]]; then
  # One run each at B = 16 (the first run of a fresh machine is a warm-up, so head first: its figure is the one to doubt).
  for x in head new; do (( $(date +%s) - t0 < ${BUDGET:-420} )) && b $x $x-short --decode-tokens 32 --batch 16 --profile; done; step done; exit 0
fi
T=100 b new warm --decode-tokens 16 --batch 16
for i in 1 2; do for x in new head; do (( $(date +%s) - t0 < ${BUDGET:-420} )) && b $x $x-$i --decode-tokens 32 --batch 4,16 --profile; done; done
step done
