# Session 28 call H: prefill attention variants with RB = 2 (BK32, SG = 8 / 2, RB = 1 for reference), and e0ed91b's shipped kernel beside (the SG override must not change it).
source .device/setup.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
timeout 200 node scripts/bench/prefill-attention.mjs --variants ",BK32,SG=8,SG=2,RB=1" 2>&1 | grep -v "^validation\|^ - \|^\["
timeout 100 node .ab/head/scripts/bench/prefill-attention.mjs 2>&1 | grep -v "^validation\|^ - \|^\[" | sed 's/^/e0ed91b /'
