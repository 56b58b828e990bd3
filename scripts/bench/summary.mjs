// One line per context and batch of csattn bench --json files (or the suite's suite.jsonl) (prefill and tables where timed, ms/token, tokens/s, the top kernels of a profiled step).
//   node scripts/bench/summary.mjs FILE...
import { readFileSync } from 'node:fs';
for (const f of process.argv.slice(2)) {
  console.log(`== ${f}`);
  for (const l of readFileSync(f, 'utf8').split('\n').filter((l) => l.startsWith('{'))) {
    const r = JSON.parse(l);
    if (!r.full) continue; // the suite's other lines: probes, PyTorch, the run's metadata
    const k = (ks) => (ks ?? []).slice(0, 7).map((x) => `${x.kernel} ${x.ms.toFixed(2)}`).join(', ');
    const offline = r.prefillMs ? `prefill ${(r.prefillMs / 1000).toFixed(2)} s + tables ${(r.tablesMs / 1000).toFixed(2)} s, ` : '';
    console.log(`${r.context}: ${offline}full ${r.full?.msPerToken.toFixed(2)} ms/tok (gpu ${r.full?.gpuStepMs?.toFixed(2)}), csa ${r.csa?.msPerToken.toFixed(2)} (gpu ${r.csa?.gpuStepMs?.toFixed(2)}) ${r.adapter.slice(0, 30)}`);
    const form = (b) => (b.form ? ` (${b.form}, union share ${b.unionShare?.toFixed(3) ?? '-'})` : '');
    for (const b of r.batches ?? []) console.log(`  B=${b.batch} ${b.attention}${form(b)}: ${b.tokensPerSecond.toFixed(0)} tok/s, ${b.msPerStep.toFixed(2)} ms/step${b.kernels ? ' | ' + k(b.kernels) : ''}`);
  }
}
