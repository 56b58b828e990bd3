import { it } from 'vitest';
import { readdirSync, statSync } from 'node:fs';
import { writeSynthModel } from '../src/model/synth.js';
import { SafetensorsModel } from '../src/weights/safetensors.js';
it('big', async () => {
  const t = Date.now(); let rss = 0;
  await writeSynthModel('/tmp/synth-big', 'llama-3.1-8b', { onProgress: () => { rss = Math.max(rss, process.memoryUsage().rss); } });
  console.log('secs', (Date.now() - t) / 1000, 'max rss MB', rss / 1e6);
  for (const f of readdirSync('/tmp/synth-big')) console.log(f, statSync('/tmp/synth-big/' + f).size);
  const m = await SafetensorsModel.open('/tmp/synth-big');
  console.log('tensors', m.tensors.size, m.tensors.get('lm_head.weight'));
  await m.close();
}, 600_000);
