// Writes the reference cases in fixtures/reference/: a tiny random-weight model per family (from
// synth-model) with a fixed token sequence, plus the bundled model with a fixed text. Then run
// make_reference.py on a machine with transformers to fill in logits.npy and expected.json.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = 'fixtures/reference';
const cases = [
  { name: 'llama', preset: 'tiny-llama', dtype: 'BF16' }, // llama3 RoPE scaling; BF16 → f16 on upload
  { name: 'llama-tied', preset: 'tiny-llama-tied', dtype: 'F16' },
  { name: 'qwen2', preset: 'tiny-qwen2', dtype: 'F16' },
  { name: 'qwen3', preset: 'tiny-qwen3', dtype: 'F32' },
  { name: 'mistral', preset: 'tiny-mistral', dtype: 'F16' },
];

function ids(n, vocab, seed) {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return 3 + (s % (vocab - 3));
  });
}

for (const [i, c] of cases.entries()) {
  const dir = join(root, c.name);
  mkdirSync(dir, { recursive: true });
  execFileSync('node', ['bin/csattn.js', 'synth-model', '--preset', c.preset, '--dtype', c.dtype, '--seed', String(i + 1), '-o', join(dir, 'model'), '--log-level', 'warn'], { stdio: 'inherit' });
  const vocab = JSON.parse(execFileSync('node', ['-e', `console.log(require('fs').readFileSync('${join(dir, 'model', 'config.json')}','utf8'))`]).toString()).vocab_size;
  writeFileSync(join(dir, 'case.json'), JSON.stringify({ model: join(dir, 'model'), ids: ids(40, vocab, 2000 + i) }) + '\n');
}
mkdirSync(join(root, 'tinylm'), { recursive: true });
writeFileSync(join(root, 'tinylm', 'case.json'), JSON.stringify({
  model: 'fixtures/models/tinylm',
  text: "In the beginning God created the heaven and the earth.\nKalomi's passcode is 4821.\nThe .deb format is an ar archive; see dpkg-deb(1). Question: What is Kalomi's passcode?\nAnswer:",
}) + '\n');
console.log('cases written to', root);
