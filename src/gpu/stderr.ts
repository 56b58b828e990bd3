/**
 * Captures what native code writes to file descriptor 2 during one synchronous call.
 *
 * Dawn prints notices with fprintf(stderr) while it enumerates adapters (on lavapipe: "Warning:
 * maxDynamicUniformBuffersPerPipelineLayout artificially reduced ..."), whatever limits are
 * requested later, and offers no toggle or callback for them. Node has no dup2, so fd 2 is swapped
 * by closing it and opening a file in its place (open takes the lowest free number): a temp file
 * while the call runs, then stderr again, reopened through /proc/self/fd. Only on Linux, and only
 * where stderr is a terminal, a pipe or /dev/null, which reopen as the same thing; a regular file
 * (whose offset a reopen would not keep) or a socket gets the output as before.
 */
import { closeSync, constants, fstatSync, openSync, readSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const { O_WRONLY, O_APPEND, O_NOCTTY, O_NONBLOCK, O_RDWR, O_CREAT, O_TRUNC } = constants;

/** Runs `fn` with fd 2 captured: its value, and the text written to fd 2 meanwhile. */
export function captureStderr<T>(fn: () => T): { value: T; text: string } {
  const saved = reopenStderr();
  if (saved === null) return { value: fn(), text: '' };
  try {
    if (!replaceFd2(openTemp)) return { value: fn(), text: '' };
    try {
      const value = fn();
      return { value, text: readAll(2) };
    } finally {
      replaceFd2(() => openSync(`/proc/self/fd/${saved}`, writeFlags(saved)));
    }
  } finally {
    closeSync(saved);
  }
}

/** A second descriptor on stderr's terminal or pipe; null where fd 2 cannot be swapped safely. */
function reopenStderr(): number | null {
  if (process.platform !== 'linux') return null;
  try {
    fstatSync(0);
    fstatSync(1); // with fds 0 and 1 open, closing fd 2 makes 2 the lowest free number
    const st = fstatSync(2);
    if (!st.isCharacterDevice() && !st.isFIFO()) return null;
    return openSync('/proc/self/fd/2', writeFlags(2));
  } catch {
    return null; // a closed fd, a pipe without a reader, no /proc
  }
}

/** Pipes open without blocking (a pipe whose reader left fails instead), as Node keeps them. */
function writeFlags(fd: number): number {
  return O_WRONLY | O_APPEND | O_NOCTTY | (fstatSync(fd).isFIFO() ? O_NONBLOCK : 0);
}

/** An anonymous temp file (unlinked at once: nothing is left behind, even by a crash). */
function openTemp(): number {
  const path = join(tmpdir(), `csattn-stderr-${process.pid}`);
  const fd = openSync(path, O_RDWR | O_CREAT | O_TRUNC, 0o600);
  unlinkSync(path);
  return fd;
}

/** Closes fd 2 and opens a file as the new fd 2; false if another thread took number 2 first. */
function replaceFd2(open: () => number): boolean {
  closeSync(2);
  const fd = open();
  if (fd === 2) return true;
  closeSync(fd);
  return false;
}

function readAll(fd: number): string {
  const size = fstatSync(fd).size;
  const buf = Buffer.alloc(size);
  for (let at = 0; at < size;) at += readSync(fd, buf, at, size - at, at);
  return buf.toString('utf8');
}
