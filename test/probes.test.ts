/**
 * Defects found by probing the command line, each with the behaviour that replaced it: bad config
 * numbers and a config with fewer layers than the weights are refused (they used to run, all-NaN
 * or truncated, with exit 0); a chat template that would not finish fails fast; messages say what
 * is wrong, on one line, before any model is loaded; 150K questions do not overflow the stack.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { afterAll } from 'vitest';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseConfig } from '../src/model/config.js';
import { runCsattn, expectOneLineError } from './helpers/cli.js';

const MODEL = resolve('fixtures/models/tinylm');
const tmp = mkdtempSync(join(tmpdir(), 'csattn-probes-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const csattn = (...args: string[]) => runCsattn(args, { timeout: 120_000 });

let variants = 0;
/** A copy of the bundled model (weights linked) with config.json edited and extra files written. */
function modelVariant(edit: (cfg: any) => void, files: Record<string, string> = {}): string {
  const dir = join(tmp, `model-${variants++}`);
  mkdirSync(dir);
  for (const f of readdirSync(MODEL)) {
    if (f.endsWith('.safetensors')) symlinkSync(join(MODEL, f), join(dir, f));
    else copyFileSync(join(MODEL, f), join(dir, f));
  }
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  edit(cfg);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

describe('config.json numbers', () => {
  const tiny = JSON.parse(readFileSync(join(MODEL, 'config.json'), 'utf8'));
  it.each([
    ['rms_norm_eps', 'abc', (c: any, v: unknown) => { c.rms_norm_eps = v; }],
    ['rms_norm_eps', -1, (c: any, v: unknown) => { c.rms_norm_eps = v; }],
    ['rms_norm_eps', 0, (c: any, v: unknown) => { c.rms_norm_eps = v; }],
    ['factor', 0, (c: any, v: unknown) => { c.rope_parameters = { ...c.rope_parameters, rope_type: 'linear', factor: v }; }],
    ['rope_theta', 'NaN', (c: any, v: unknown) => { c.rope_parameters = { ...c.rope_parameters, rope_theta: v }; }],
    ['original_max_position_embeddings', -8192, (c: any, v: unknown) => { c.rope_scaling = { rope_type: 'llama3', factor: 8, original_max_position_embeddings: v }; delete c.rope_parameters; }],
  ])('%s = %j is refused, naming the field', (field, value, edit) => {
    const c = structuredClone(tiny);
    edit(c, value);
    expect(() => parseConfig(c)).toThrow(new RegExp(`config\\.json field ${field} must be a number .*\\(got ${JSON.stringify(JSON.stringify(value)).slice(1, -1)}\\)`));
  });

  it('a bad rms_norm_eps stops generate with one line (it used to print NaN logits\' tokens and exit 0)', () => {
    expectOneLineError(csattn('generate', '--model', modelVariant((c) => { c.rms_norm_eps = 'abc'; }), '--prompt', 'hi'),
      /config\.json field rms_norm_eps must be a number in \(0, 1\) \(got "abc"\)/, 1);
  });

  it('fewer layers in config.json than in the weights is refused', () => {
    expectOneLineError(csattn('generate', '--model', modelVariant((c) => { c.num_hidden_layers = 4; }), '--prompt', 'hi'),
      /the weights have tensors of layer 5 .* but config\.json says num_hidden_layers 4/, 1);
  });
});

describe('chat templates', () => {
  it('nested loops fail within seconds with one line', () => {
    const model = modelVariant(() => {}, { 'chat_template.jinja': '{% for i in range(10000) %}{% for j in range(10000) %}{{ j }}{% endfor %}{% endfor %}' });
    const t0 = Date.now();
    expectOneLineError(csattn('generate', '--model', model, '--prompt', 'hi'), /chat template: too much work/, 1);
    expect(Date.now() - t0).toBeLessThan(20_000);
  });

  it('range(1e9) fails with one line instead of exhausting memory', () => {
    const model = modelVariant(() => {}, { 'chat_template.jinja': '{% for i in range(1000000000) %}{{ i }}{% endfor %}' });
    expectOneLineError(csattn('generate', '--model', model, '--prompt', 'hi'), /chat template: range\(\) of 1000000000 numbers is too long/, 1);
  });

  it('raise_exception with a line break in its message stays one line', () => {
    const model = modelVariant(() => {}, { 'chat_template.jinja': '{{ raise_exception("roles must alternate\\nuser/assistant") }}' });
    expectOneLineError(csattn('generate', '--model', model, '--prompt', 'hi'), /chat template: roles must alternate user\/assistant$/, 1);
  });
});

describe('options checked before the model loads', () => {
  it('--top-p 0 is refused as an option (the model folder is not even looked at)', () => {
    const r = csattn('generate', '--model', join(tmp, 'no-such-model'), '--prompt', 'hi', '--top-p', '0');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--top-p .* argument '0' is invalid\. expected a number in \(0, 1\]/);
    expect(r.stderr).not.toMatch(/model folder/);
  });
});

describe('many questions', () => {
  const bundle = join(tmp, 'doc.csa');
  beforeAll(() => {
    writeFileSync(join(tmp, 'doc.txt'), "Kalomi's passcode is 4821.\nThe rest is filler text.\n");
    expect(csattn('prefill', join(tmp, 'doc.txt'), '-o', bundle, '--centroids', '4', '--log-level', 'warn').status).toBe(0);
  }, 120_000);

  it('150K questions in --prompts are sized without overflowing the stack', () => {
    const prompts = join(tmp, 'many.jsonl');
    writeFileSync(prompts, Array.from({ length: 150_000 }, (_, i) => JSON.stringify({ prompt: `Question ${i}?` })).join('\n') + '\n');
    // Too many tokens for the window: the run stops right after sizing every question.
    const r = csattn('decode', bundle, '--prompts', prompts, '--max-tokens', '20000');
    expectOneLineError(r, /exceeds the model's max_position_embeddings \(16384\)/);
  }, 120_000);
});
