/**
 * The npm package as a user gets it: `npm pack` (its prepack builds dist/), the tarball installed
 * globally into a fresh prefix, and the installed `csattn` run from another folder: --help,
 * generate on the bundled model, and the demo (which finds its document, the model and the WGSL
 * kernels from the installed location). The tarball holds what a user needs and nothing else.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'csattn-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const prefix = join(dir, 'prefix');
const work = join(dir, 'work'); // not the repository: nothing may be found relative to the working folder
mkdirSync(work);

function run(cmd: string, args: string[], cwd = work) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('npm pack, npm install -g, csattn', () => {
  let tarball = '';

  it('packs dist, bin, wgsl, the bundled model and the runtime data; no tests, docs or reference fixtures', () => {
    execFileSync('npm', ['pack', '--pack-destination', dir, '--silent'], { stdio: ['ignore', 'ignore', 'pipe'] });
    tarball = join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!);
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''));
    for (const needed of ['package.json', 'bin/csattn.js', 'dist/cli.js', 'dist/demo.js', 'wgsl/matmul.wgsl', 'fixtures/models/tinylm/config.json',
      'fixtures/models/tinylm/tokenizer.json', 'fixtures/models/tinylm/model-00001-of-00002.safetensors', 'fixtures/longbench/dataset2prompt.json',
      'fixtures/longbench/dataset2maxlen.json', 'fixtures/docs/demo.txt', 'fixtures/docs/demo.question.json']) {
      expect(files).toContain(needed);
    }
    const unwanted = files.filter((f) => /^(src|test|docs|scripts|\.ci)\/|^fixtures\/(reference|heldout)\/|^fixtures\/facts|\.map$|\.ts$/.test(f));
    expect(unwanted).toEqual([]);
  }, 120_000);

  it('installs into a fresh prefix and runs --help and generate on the bundled model', () => {
    const install = run('npm', ['install', '-g', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', tarball], dir);
    expect(install.status, install.stderr).toBe(0);
    const csattn = join(prefix, 'bin', 'csattn');
    expect(existsSync(csattn)).toBe(true);
    const help = run(csattn, ['--help']);
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/demo.*\n[\s\S]*generate[\s\S]*prefill[\s\S]*decode/);
    const gen = run(csattn, ['generate', '--prompt', 'The Lord said unto Moses', '--max-tokens', '4', '--json']);
    expect(gen.status, gen.stderr).toBe(0);
    expect(JSON.parse(gen.stdout).ids).toHaveLength(4);
  }, 240_000);

  it('the installed demo answers its question with CSA and keeps the bundle with --out', () => {
    const csattn = join(prefix, 'bin', 'csattn');
    const demo = run(csattn, ['demo', '--json', '--out', 'demo.csa', '--log-level', 'warn']);
    expect(demo.status, demo.stderr).toBe(0);
    const r = JSON.parse(demo.stdout);
    expect(r.answer).toBe(r.expected);
    expect(r.expected).toBe('19087');
    expect(r.contextKeysPerStep).toBe(Math.round(0.05 * r.contextTokens));
    const info = JSON.parse(run(csattn, ['info', 'demo.csa', '--json']).stdout);
    expect([info.tokens, info.bytes, info.kvBytes]).toEqual([r.contextTokens, r.bundleBytes, r.kvBytes]);
  }, 240_000);
});
