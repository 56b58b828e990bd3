# Session 40, call 2: the batch's switch between unions and each selection (the working tree's
# batchSelectAttention with its probe: `.ab/switch`) against session 39's code with unions from
# 96K at B = 16 (`.ab/head`, e11de39) and without unions (`.ab/nounion`), with a question of its own
# for every sequence (random tokens: selections apart), and with one question 16 times
# (`.ab/switch-same`, `.ab/head-same`: the union's best case). Carry .device and .ab.
source .device/setup.sh >/dev/null
LOG=$OUT/call.log; source scripts/device/lib.sh
step "$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1)"
args=(--random-context --contexts 98304,131072 --batch 16 --decode-tokens 32 --profile)
for r in 1 2; do
  for b in switch nounion switch-same head-same; do T=140 ab_bench $b $b-$r "${args[@]}"; done
done
step done
