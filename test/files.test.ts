/**
 * Files in and out: an output that is a device or a pipe is written through (never renamed over),
 * one that is a directory or a socket is refused, an output that is an input (or another output)
 * is refused before any work, inputs that are not regular files are refused instead of hanging,
 * and a long output name still gets a temp file.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkOutputs, writeFileAtomic } from '../src/fsutil.js';
import { SafetensorsFile, writeSafetensors } from '../src/weights/safetensors.js';
import { runCsattn, expectOneLineError } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'csattn-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const MODEL = resolve('fixtures/models/tinylm');

const csattn = (args: string[], timeout = 120_000) => runCsattn(args, { timeout });

function mkfifo(path: string): string {
  execFileSync('mkfifo', [path]);
  return path;
}

describe('outputs that are not regular files', () => {
  it('/dev/null is written through and stays a character device', async () => {
    await writeFileAtomic('/dev/null', [Buffer.from('report')]);
    await writeSafetensors('/dev/null', [{ name: 'a', dtype: 'F32', shape: [2] }], {}, () => new Uint8Array(8));
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
    expect(readdirSync('/dev').filter((f) => f.startsWith('null.'))).toEqual([]); // no temp file left there
    const r = csattn(['logits', '--ids', '0,585', '--out', '/dev/null']);
    expect(r.status).toBe(0);
    writeFileSync(join(dir, 'short.txt'), 'A short document.\n');
    const p = csattn(['prefill', join(dir, 'short.txt'), '-o', '/dev/null', '--centroids', '4', '--json', '--log-level', 'warn']);
    expect(p.status).toBe(0);
    expect(JSON.parse(p.stdout).fileBytes).toBeGreaterThan(JSON.parse(p.stdout).kvBytes); // counted as written, not stat'ed
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  it('a FIFO gets the bytes through it and stays a FIFO', async () => {
    const fifo = mkfifo(join(dir, 'out.fifo'));
    const reader = spawn('cat', [fifo]);
    let got = '';
    reader.stdout.on('data', (b) => { got += b; });
    const closed = new Promise((done) => reader.on('close', done));
    await writeFileAtomic(fifo, [Buffer.from('first '), Buffer.from('second')]);
    await closed;
    expect(got).toBe('first second');
    expect(statSync(fifo).isFIFO()).toBe(true);
  });

  it('/dev/stdout appends to what stdout is, a file opened with >> included, and stays a link', () => {
    const log = join(dir, 'stdout.log');
    writeFileSync(log, 'kept\n');
    const fd = openSync(log, 'a');
    const script = `import { writeFileAtomic } from './dist/fsutil.js'; await writeFileAtomic('/dev/stdout', [Buffer.from('written\\n')]);`;
    const r = spawnSync('node', ['--input-type=module', '-e', script], { stdio: ['ignore', fd, 'pipe'] });
    closeSync(fd);
    expect(r.status, String(r.stderr)).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe('kept\nwritten\n');
    expect(lstatSync('/dev/stdout').isSymbolicLink()).toBe(true);
  });

  it('a directory or a socket is refused, naming what it is', async () => {
    mkdirSync(join(dir, 'folder.json'));
    await expect(writeFileAtomic(join(dir, 'folder.json'), [Buffer.from('x')])).rejects.toThrow(/folder\.json: it is a directory$/);
    const sock = join(dir, 'out.sock');
    const server = createServer().listen(sock);
    await new Promise((done) => server.on('listening', done));
    try {
      await expect(writeFileAtomic(sock, [Buffer.from('x')])).rejects.toThrow(/out\.sock: it is a socket$/);
      expect(lstatSync(sock).isSocket()).toBe(true);
    } finally {
      server.close();
    }
  });

  it('a 255-byte file name gets a temp name that fits', async () => {
    const long = join(dir, `${'n'.repeat(251)}.csa`);
    await writeFileAtomic(long, [Buffer.from('report')]);
    expect(readFileSync(long, 'utf8')).toBe('report');
    await writeSafetensors(long, [{ name: 'a', dtype: 'F32', shape: [1] }], {}, () => new Uint8Array(4));
    const file = await SafetensorsFile.open(long);
    expect(file.tensors.get('a')?.shape).toEqual([1]);
    await file.close();
  });
});

describe('an output that is an input', () => {
  it('checkOutputs: same file by path, symlink or hard link; outputs that are each other; devices exempt', async () => {
    const input = join(dir, 'in.jsonl');
    writeFileSync(input, '{}\n');
    symlinkSync(input, join(dir, 'link.jsonl'));
    linkSync(input, join(dir, 'hard.jsonl'));
    const inputs = [{ what: 'the dataset file', path: input }];
    for (const path of [input, join(dir, 'link.jsonl'), join(dir, 'hard.jsonl'), join(dir, '.', 'in.jsonl')]) {
      await expect(checkOutputs([{ what: '--out', path }], inputs)).rejects.toThrow(/^--out .* is the same file as the dataset file .*in\.jsonl: refusing to overwrite it$/);
    }
    const fresh = join(dir, 'new.json');
    symlinkSync(dir, join(dir, 'alias'));
    await expect(checkOutputs([{ what: '--out', path: fresh }, { what: '--html', path: join(dir, 'alias', 'new.json') }], inputs))
      .rejects.toThrow(/^--html .* is the same file as --out .*new\.json/);
    await checkOutputs([{ what: '--out', path: '/dev/null' }, { what: '--html', path: '/dev/null' }], inputs);
    await checkOutputs([{ what: '--out', path: fresh }], [...inputs, { what: 'missing', path: fresh + '.gone' }]);
  });

  it('prefill doc.txt -o doc.txt, eval d.jsonl --out d.jsonl, --out X --html X: one line, nothing written', () => {
    const doc = join(dir, 'doc.txt');
    writeFileSync(doc, 'The document.\n');
    expectOneLineError(csattn(['prefill', doc, '-o', doc]), /--out .*doc\.txt is the same file as the document .*doc\.txt/);
    expect(readFileSync(doc, 'utf8')).toBe('The document.\n');
    const data = join(dir, 'd.jsonl');
    copyFileSync('fixtures/facts.tiny.jsonl', data);
    const before = readFileSync(data);
    expectOneLineError(csattn(['eval', data, '--out', data]), /--out .*d\.jsonl is the same file as the dataset file/);
    expectOneLineError(csattn(['eval', data, '--out', join(dir, 'r.json'), '--html', join(dir, 'r.json')]), /--html .*r\.json is the same file as --out/);
    expect(readFileSync(data).equals(before)).toBe(true);
    expect(existsSync(join(dir, 'r.json'))).toBe(false);
    expectOneLineError(csattn(['logits', '--ids', '0', '--out', join(MODEL, 'config.json')]), /is the same file as the model file .*config\.json/);
  });
});

describe('inputs that are not regular files', () => {
  /** A copy of the bundled model with `name` replaced by what `make` puts there. */
  function modelWith(name: string, make: (path: string) => void): string {
    const at = mkdtempSync(join(dir, 'model-'));
    for (const f of readdirSync(MODEL)) if (f !== name) symlinkSync(join(MODEL, f), join(at, f));
    make(join(at, name));
    return at;
  }

  it.each(['config.json', 'tokenizer.json', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json'])('a FIFO as %s is refused, not waited on', (name) => {
    const model = modelWith(name, mkfifo);
    expectOneLineError(csattn(['generate', '--model', model, '--prompt', 'hi', '--max-tokens', '1'], 60_000), new RegExp(`${name.replace(/\./g, '\\.')} is a FIFO \\(named pipe\\), not a file`));
  });

  it('tokenizer.json a directory says so (not "not found")', () => {
    const model = modelWith('tokenizer.json', (p) => mkdirSync(p));
    expectOneLineError(csattn(['generate', '--model', model, '--prompt', 'hi']), /tokenizer\.json .*tokenizer\.json is a directory, not a file/);
  });

  it('a FIFO as a dataset file or a document is refused', () => {
    const fifo = mkfifo(join(dir, 'in.fifo'));
    expectOneLineError(csattn(['eval', fifo, '--out', join(dir, 'e.json')], 60_000), /dataset file .*in\.fifo is a FIFO/);
    expectOneLineError(csattn(['prefill', fifo, '-o', join(dir, 'e.csa')], 60_000), /document .*in\.fifo is a FIFO/);
  });
});
