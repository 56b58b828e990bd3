# Session 38's four calls on one warm H100 (NVIDIA H100 80GB HBM3, driver 580.159.04), 07:17-07:20 UTC,
# carry .device (pack.sh --tests) and .ab (made at the session's start: ab-build.sh new = 71fa4ea + session 37's
# union patch; ab-build.sh head HEAD = 71fa4ea), the tree at dc98431 + the re-made patch, tinylm out of the tree.
# Outputs: callN-*.
# 1: the union's GPU tests
BUDGET=0 bash docs/results/s37/call1.sh short
# 2-4: the union build (new) against main (head), CSA and full at B = 16 / 4
source scripts/device/env.sh; LOG=$OUT/call.log; source scripts/device/lib.sh
for x in new head; do T=70 ab_bench $x $x-32k --random-context --contexts 32768 --decode-tokens 16 --batch 16 --profile; done
for x in head new; do T=50 ab_bench $x $x-128k --random-context --contexts 131072 --decode-tokens 16 --batch 16 --profile; done
for x in head new; do T=25 ab_bench $x $x-32k-2 --random-context --contexts 32768 --decode-tokens 16 --batch 4 --profile; done
for x in new head; do T=35 ab_bench $x $x-128k-b4 --random-context --contexts 131072 --decode-tokens 16 --batch 4 --profile; done
