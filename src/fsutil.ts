/** Writing files so that a crash, a full disk or Ctrl-C never leaves a partial file behind. */
import { rmSync } from 'node:fs';
import { access, constants, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CsattnError } from './errors.js';

/** Temp files being written: removed if the process exits (Ctrl-C included) before the rename. */
const inFlight = new Set<string>();
process.on('exit', () => {
  for (const t of inFlight) rmSync(t, { force: true });
});

/**
 * A temp path next to `path` (so the final rename stays on one file system), removed at exit
 * unless `settled` is called first: after the rename, or after cleaning it up.
 */
export function tempPathFor(path: string): { tmp: string; settled: () => void } {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
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

/** Writes the chunks to a temp file, fsyncs, then renames over `path`. */
export async function writeFileAtomic(path: string, chunks: Uint8Array[]): Promise<void> {
  const { tmp, settled } = tempPathFor(path);
  let fh;
  try {
    fh = await open(tmp, 'w');
    for (const c of chunks) await fh.write(c);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => {});
    await rm(tmp, { force: true });
    throw new CsattnError(`cannot write ${path}: ${(e as Error).message}`, 'io');
  } finally {
    settled();
  }
}

/** Fails early, before hours of work, if `path` cannot be written. */
export async function checkWritable(path: string): Promise<void> {
  const dir = dirname(path);
  const st = await stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new CsattnError(`cannot write ${path}: the folder ${dir} does not exist`, 'io');
  if ((await stat(path).catch(() => null))?.isDirectory()) throw new CsattnError(`cannot write ${path}: it is a folder`, 'io');
  await access(dir, constants.W_OK).catch(() => {
    throw new CsattnError(`cannot write ${path}: the folder ${dir} is not writable`, 'io');
  });
}
