# Session 30 call 1. On an H200: the suite's first part (GPU tests, PyTorch, llama.cpp's build) at 9bc15d9.
# Otherwise: doctor (the 48 KiB gate), the two waiting patches' GPU tests, and their A/Bs against
# main's build (.ab/main): halves-wide at B = 16 over 32K, attention-q-tiles by prefill-attention.mjs.
source .device/setup.sh >/dev/null
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1); echo "$gpu"
if [[ $gpu == *H200* ]]; then
  tar -xJf .peers/llamacpp.tar.xz -C .peers
  GPU_TESTS="test/attention.test.ts test/matmul.test.ts test/dense.test.ts test/csa.test.ts test/baselines.test.ts test/kernels.test.ts test/kvcache.test.ts test/reference.test.ts test/doctor.test.ts" \
    VITEST_ARGS='-t ^(?!transformers.reference:.tinylm)' COMMIT=9bc15d9 bash scripts/device/bench-suite.sh checks 2>&1 | tail -12
  exit 0
fi
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
timeout 60 node bin/csattn.js doctor 2>&1 | grep -i -E "workgroup|tensor|subgroup matri|adapter" | head -8; el doctor
bt() { timeout 120 node .ab/$1/bin/csattn.js bench --log-level warn --json --random-context --contexts $3 --batch $4 --decode-tokens 32 --profile > /tmp/b.jsonl 2>/tmp/b.err || tail -2 /tmp/b.err
  node -e "for (const l of require('fs').readFileSync('/tmp/b.jsonl','utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l); console.log(process.argv[1], r.context, (r.batches||[]).map((b)=>'B='+b.batch+' '+b.attention+' '+b.tokensPerSecond.toFixed(0)+' tok/s, step '+b.msPerStep.toFixed(2)+' gpu '+(b.gpuStepMs??0).toFixed(2)+' ['+(b.kernels||[]).filter((k,i)=>i<5||k.kernel==='halves').map((k)=>k.kernel+' '+k.ms.toFixed(2)+'/'+(k.stepMs??0).toFixed(2)).join(', ')+']').join(' | ')); }" $2; el "bench $2 $3"; }
bt main warm 32768 16 > /dev/null
for i in 1 2; do bt halves-wide halves-$i 32768 16; bt main main-$i 32768 16; done
tests() { NO_COLOR=1 timeout $1 node node_modules/vitest/vitest.mjs run ${@:3} > $OUT/$2.log 2>&1; el "$2 rc $?: $(grep -E '^ +Tests ' $OUT/$2.log | tr -s ' ')"; grep -E "×|FAIL" $OUT/$2.log | head -5; }
patch -s -p1 < docs/patches/halves-wide.patch && tests 150 tests-halves test/matmul.test.ts test/dense.test.ts && patch -s -R -p1 < docs/patches/halves-wide.patch
patch -s -p1 < docs/patches/attention-q-tiles.patch && tests 200 tests-qtiles test/attention.test.ts test/reference.test.ts -t '^(?!transformers.reference:.tinylm)' && patch -s -R -p1 < docs/patches/attention-q-tiles.patch
pa() { timeout 100 node .ab/$1/scripts/bench/prefill-attention.mjs --reps 5 2>&1 | grep -v "^\s*$" | tail -4 | sed "s/^/$1: /"; el "prefill-attention $1"; }
for i in 1 2; do pa attention-q-tiles; pa main; done
git status --short | head -5
