# Session 29 call A. On an H200: the suite's first part (GPU tests, PyTorch, llama.cpp's build).
# Otherwise: the batch product's probes (ablations by define, shipped text unchanged), GPU tests of
# the kernels changed since session 26, and batch-context-rb2.patch (tests, B = 32/64 A/B).
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
if [[ $gpu == *H200* ]]; then
  tar -xJf .peers/llamacpp.tar.xz -C .peers
  GPU_TESTS="test/attention.test.ts test/matmul.test.ts test/dense.test.ts test/csa.test.ts test/baselines.test.ts test/kernels.test.ts test/kvcache.test.ts test/reference.test.ts test/doctor.test.ts" \
    VITEST_ARGS='-t ^(?!transformers.reference:.tinylm)' COMMIT=cc8f330 bash scripts/device/bench-suite.sh checks 2>&1 | tail -12
  exit 0
fi
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
V=",PROBE_NO_X,PROBE_NO_WLOAD,PROBE_NO_X+PROBE_NO_WLOAD,PROBE_NO_BARRIER"
timeout 100 node scripts/bench/matvec.mjs --tokens 16 > /dev/null 2>&1; el "warm-up run thrown away"
timeout 150 node scripts/bench/matvec.mjs --tokens 16 --batch-variants "$V" > $OUT/probes.log 2>&1; el "probes rc $?"
grep -E "^T = 16" $OUT/probes.log
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -5; }
tests 200 tests-head test/matmul.test.ts test/dense.test.ts test/attention.test.ts test/kernels.test.ts
patch -s -p1 < docs/patches/batch-context-rb2.patch && tests 100 tests-rb2 test/attention.test.ts -t batched && patch -s -R -p1 < docs/patches/batch-context-rb2.patch
bt() { timeout 150 node $1/bin/csattn.js bench --log-level warn --json --random-context --contexts $3 --batch $4 --decode-tokens 32 > /tmp/b.jsonl 2>/tmp/b.err || tail -2 /tmp/b.err; node -e "for (const l of require('fs').readFileSync('/tmp/b.jsonl','utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); console.log(process.argv[1], r.context, (r.batches||[]).map((b)=>'B='+b.batch+' '+b.attention+' '+b.tokensPerSecond.toFixed(0)).join(', ')); }" $2; el "bench $2 $3"; }
for i in 1 2; do bt .ab/rb2 rb2-$i 32768 32,64; bt . head-$i 32768 32,64; done

