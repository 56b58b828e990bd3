# Session 33, call 1c (the ~160 s of device time left): 128K, B = 1, --profile, one round of quads / keys /
# main after a thrown-away warm run; no tests. Same builds and carry as call1.sh.
source .device/setup.sh >/dev/null
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1
t0=$(date +%s); el() { echo "[$(( $(date +%s) - t0 )) s] $*"; }
sum() { node -e "for (const l of require('fs').readFileSync(process.argv[1],'utf8').split('\n').filter((l)=>l.startsWith('{'))) { const r = JSON.parse(l);
  const k = (m) => (r[m]?.kernels ?? []).filter((x) => /csa|attention/.test(x.kernel)).map((x) => x.kernel + ' ' + x.stepMs.toFixed(2)).join(', ');
  console.log(process.argv[2], r.context, 'full', r.full?.msPerToken?.toFixed(2), 'csa', r.csa?.msPerToken?.toFixed(2), 'ms/token | csa step', r.csa?.gpuStepMs?.toFixed(2), ':', k('csa')); }" $1 $2; }
b() { local x=$1 n=$2; shift 2; timeout 60 node .ab/$x/bin/csattn.js bench --json --random-context --log-level warn --contexts 131072 "$@" > $OUT/bench-$n.jsonl 2>>$OUT/bench.err || echo "rc $?"; sum $OUT/bench-$n.jsonl $n; el $n; }
b main warm --decode-tokens 16
for x in quads keys main; do (( $(date +%s) - t0 < ${BUDGET:-100} )) && b $x $x-1 --decode-tokens 64 --profile; done
el done
