# Session 40, call 4: B = 16 over a prefilled 128K context (the suite's kind: Pending 13), the
# switch (`.ab/switch`) against unions always (`.ab/head`, e11de39) and never (`.ab/nounion`),
# a question of its own for every sequence. Carry .ab (the warm machine keeps node_modules).
LOG=$OUT/call.log; source scripts/device/lib.sh
source scripts/device/env.sh
for b in switch head nounion; do T=170 ab_bench $b $b --contexts 131072 --batch 16 --decode-tokens 32 --profile; done
step done
