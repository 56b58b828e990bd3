/**
 * Files in and out. Outputs never leave a partial file behind (a crash, a full disk or Ctrl-C):
 * they are written to a temp file and renamed; a device or pipe (/dev/null, /dev/stdout, a FIFO) is
 * written through instead, since a rename would replace the device node itself. Inputs must be
 * regular files: a FIFO would block the read forever.
 */
import { readFileSync, rmSync, statSync, type Stats } from 'node:fs';
import { access, constants, lstat, open, readdir, readlink, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { CsattnError, check } from './errors.js';

/** Temp files being written: removed if the process exits (Ctrl-C included) before the rename. */
const inFlight = new Set<string>();
process.on('exit', () => {
  for (const t of inFlight) rmSync(t, { force: true });
});

/** The longest file name (in bytes) of Linux file systems. */
const NAME_MAX = 255;

/**
 * A temp path next to `path` (so the final rename stays on one file system), removed at exit
 * unless `settled` is called first: after the rename, or after cleaning it up. A name too long to
 * take the suffix is shortened to a hash of itself.
 */
export function tempPathFor(path: string): { tmp: string; settled: () => void } {
  const suffix = `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let name = basename(path);
  if (Buffer.byteLength(name + suffix) > NAME_MAX) name = createHash('sha256').update(name).digest('hex').slice(0, 32);
  const tmp = join(dirname(path), name + suffix);
  inFlight.add(tmp);
  return { tmp, settled: () => inFlight.delete(tmp) };
}

/** Ctrl-C and SIGTERM end the process through exit handlers (so temp files go), unless a command handles them itself. */
export function exitOnSignals(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (process.listenerCount(sig) === 1) process.exit(130);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// What a path is

/** What a non-regular file is, for messages. */
function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await stat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CsattnError(`cannot access ${path}: ${(e as Error).message}`, 'io');
  }
}

/**
 * Whether `path`, through its symlinks, names an open file descriptor (/dev/stdout, /dev/fd/3,
 * /proc/self/fd/1): whatever the descriptor is (a terminal, a pipe, a file opened with >>), the
 * output belongs in it, not in a file renamed over it.
 */
async function namesDescriptor(path: string): Promise<boolean> {
  let p = resolve(path);
  for (let hops = 0; hops < 40; hops++) {
    const dir = await realpath(dirname(p)).catch(() => null);
    if (dir !== null && /^\/proc\/(self|\d+)\/fd$/.test(dir)) return true;
    const st = await lstat(p).catch(() => null);
    if (!st?.isSymbolicLink()) return false;
    p = resolve(dirname(p), await readlink(p));
  }
  return false;
}

/**
 * How an output is written: 'file' (a regular file, or none yet: temp file and rename) or
 * 'stream' (a descriptor, character device or FIFO: written through). Anything else is refused.
 */
export async function outputKind(path: string): Promise<'file' | 'stream'> {
  if (await namesDescriptor(path)) return 'stream';
  const st = await statOrNull(path);
  if (st === null || st.isFile()) return 'file';
  if (st.isCharacterDevice() || st.isFIFO()) return 'stream';
  throw new CsattnError(`cannot write ${path}: it is ${kindOf(st)}`, 'io');
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Node writes at most 2 GiB per call. */
const MAX_IO = 1 << 30;

/** An output being written: bytes go in order; `commit` makes them the output, `abort` drops them. */
export interface Output {
  write(bytes: Uint8Array): Promise<void>;
  /** A file: fsync and rename over the target. A stream: close. */
  commit(): Promise<void>;
  /** A file: remove the temp file (an existing target stays as it was). A stream: close with what it got. */
  abort(): Promise<void>;
}

async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  for (let done = 0; done < bytes.byteLength;) {
    const { bytesWritten } = await fh.write(bytes, done, Math.min(bytes.byteLength - done, MAX_IO));
    done += bytesWritten;
  }
}

/** Opens `path` for writing as outputKind says. File-system errors are thrown as Node gives them. */
export async function openOutput(path: string): Promise<Output> {
  if ((await outputKind(path)) === 'stream') {
    // Appending: a descriptor opened with >> keeps what it holds; devices and pipes ignore it.
    const fh = await open(path, 'a');
    const close = () => fh.close().catch(() => undefined);
    return { write: (b) => writeAll(fh, b), commit: () => fh.close(), abort: close };
  }
  const { tmp, settled } = tempPathFor(path);
  let fh: FileHandle | undefined;
  try {
    fh = await open(tmp, 'wx');
  } catch (e) {
    settled();
    throw e;
  }
  const file = fh;
  return {
    write: (b) => writeAll(file, b),
    commit: async () => {
      try {
        await file.sync();
        await file.close();
        await rename(tmp, path);
      } catch (e) {
        await file.close().catch(() => undefined);
        await rm(tmp, { force: true });
        throw e;
      } finally {
        settled();
      }
    },
    abort: async () => {
      await file.close().catch(() => undefined);
      await rm(tmp, { force: true });
      settled();
    },
  };
}

/** Writes the chunks to `path`: complete or not at all (see openOutput). */
export async function writeFileAtomic(path: string, chunks: Uint8Array[]): Promise<void> {
  let out: Output | undefined;
  try {
    out = await openOutput(path);
    for (const c of chunks) await out.write(c);
    const done = out;
    out = undefined; // commit cleans up after itself
    await done.commit();
  } catch (e) {
    await out?.abort();
    if (e instanceof CsattnError) throw e;
    throw new CsattnError(`cannot write ${path}: ${(e as Error).message}`, 'io');
  }
}

/** Fails early, before hours of work, if `path` cannot be written. */
export async function checkWritable(path: string): Promise<void> {
  if ((await outputKind(path)) === 'stream') return;
  const dir = dirname(path);
  const st = await stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new CsattnError(`cannot write ${path}: the folder ${dir} does not exist`, 'io');
  await access(dir, constants.W_OK).catch(() => {
    throw new CsattnError(`cannot write ${path}: the folder ${dir} is not writable`, 'io');
  });
}

// ---------------------------------------------------------------------------------------------
// Outputs that would destroy inputs

/** A path a command reads or writes, and how to name it in a message (e.g. "--out", "the document"). */
export interface NamedPath { what: string; path: string }

/**
 * What identifies a path's file: device and inode when it exists, else the resolved path (two
 * outputs not yet written). null for what is written through (devices, pipes), which may repeat.
 */
async function fileIdentity(path: string): Promise<string | null> {
  if (await namesDescriptor(path)) return null;
  const st = await statOrNull(path);
  if (st !== null) return st.isFile() ? `inode ${st.dev}:${st.ino}` : null;
  return pathIdentity(path);
}

async function pathIdentity(path: string): Promise<string> {
  const dir = await realpath(dirname(resolve(path))).catch(() => dirname(resolve(path)));
  return `path ${join(dir, basename(path))}`;
}

/**
 * Refuses, before any work, an output that is the same file as an input or as another output
 * (after symlinks and hard links): writing it would destroy what is read, or one output the other.
 */
export async function checkOutputs(outputs: NamedPath[], inputs: NamedPath[]): Promise<void> {
  const seen = new Map<string, NamedPath>();
  for (const input of inputs) {
    const st = await stat(input.path).catch(() => null); // one that is not there is not overwritten
    const id = st?.isFile() ? await fileIdentity(input.path) : null;
    if (id !== null && !seen.has(id)) seen.set(id, input);
  }
  for (const output of outputs) {
    const id = await fileIdentity(output.path);
    if (id === null) continue;
    const other = seen.get(id);
    if (other) {
      throw new CsattnError(`${output.what} ${output.path} is the same file as ${other.what} ${other.path}: refusing to overwrite it`, 'input');
    }
    seen.set(id, output);
  }
}

/** The regular files of a model folder, as inputs an output must not overwrite. */
export async function modelFiles(dir: string): Promise<NamedPath[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.map((name) => ({ what: 'the model file', path: join(dir, name) }));
}

// ---------------------------------------------------------------------------------------------
// Reading

/** Throws a one-line CsattnError unless `path` is a regular file: `what` names it ("tokenizer.json"). */
export function checkInputFile(path: string, what: string): void {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CsattnError(`${what} not found: ${path}`, 'missing');
    throw new CsattnError(`cannot read ${what} ${path}: ${(e as Error).message}`, 'io');
  }
  if (!st.isFile()) throw new CsattnError(`${what} ${path} is ${kindOf(st)}, not a file`, 'input');
}

/** The bytes of a regular file (see checkInputFile). */
export function readInputFile(path: string, what: string): Buffer {
  checkInputFile(path, what);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CsattnError(`cannot read ${what} ${path}: ${(e as Error).message}`, 'io');
  }
}

/** A text file the user gave (a document, questions): UTF-8 and not empty. */
export async function readDocument(path: string): Promise<string> {
  const bytes = readInputFile(path, 'document');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CsattnError(`${path} is not UTF-8 text`, 'input');
  }
  check(text.trim().length > 0, `document ${path} is empty`, 'input');
  return text;
}
