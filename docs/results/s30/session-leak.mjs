import { readdirSync } from 'node:fs';
import { createGpu } from '../../../dist/gpu/device.js';
import { loadModel } from '../../../dist/model/load.js';
import { modelIdentity } from '../../../dist/bundle.js';
import { loadConfig } from '../../../dist/model/config.js';
import { Tokenizer } from '../../../dist/tokenizer.js';
import { Session } from '../../../dist/decode.js';
const dir = 'fixtures/models/tinylm';
const gpu = await createGpu();
const live = new Map();
const create = gpu.device.createBuffer.bind(gpu.device);
gpu.device.createBuffer = (d) => { const b = create(d); live.set(b, { ...d, stack: new Error().stack.split('\n').slice(2, 9).map((l) => l.trim().replace(/file:\/\/\/work\/main\/dist\//, '')).join(' < ') }); const x = b.destroy.bind(b); b.destroy = () => { live.delete(b); x(); }; return b; };
let before = null;
const cfg = loadConfig(dir);
const model = await loadModel(gpu, dir, { capacity: 16384, chunkSize: 512 });
const identity = await modelIdentity(dir, cfg, 'f16');
const tok = await Tokenizer.load(dir);
const bundles = readdirSync('/tmp/lp-cache').map((f) => '/tmp/lp-cache/' + f);
const none = { sparsity: 0, sink: 0, window: 0 }, sp = { sparsity: 0.95, sink: 4, window: 64 };
const slots = [{ attention: 'full', sparse: none }, ...['csa', 'oracle', 'streaming', 'quest', 'keypq'].map((a) => ({ attention: a, sparse: sp }))];
for (let round = 0; round < 3; round++) for (const b of bundles) {
  const s = await Session.open(b, dir, 200, { loaded: { model, identity, tok } });
  const batch = await s.batch(slots, { temperature: 0, topP: 1, seed: 0 }, 100);
  await batch.answer(slots.map((_, slot) => ({ question: 'Question: What is X?\nAnswer:', stopIds: tok.eosIds, slot, maxTokens: 4 })), () => {});
  batch.close();
  for (const sl of slots) await s.answer('Question: What is Y?\nAnswer:', sl.attention, sl.sparse, { temperature: 0, topP: 1, seed: 0, maxTokens: 3, stopIds: tok.eosIds });
  await s.close();
  console.log(round, b.slice(-8), (gpu.memory.current / 1e6).toFixed(2), 'MB');
  if (round === 1 && b === bundles[0]) before = new Set(live.keys());
}

const by = new Map();
for (const [b, d] of live) if (!before.has(b)) { const k = d.label + ' | ' + d.stack; by.set(k, (by.get(k) ?? 0) + d.size); }
console.log([...by].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => v + ' B  ' + k).join('\n'));
