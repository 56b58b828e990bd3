/** Running the built CLI (dist/) as a user would. */
import { spawnSync } from 'node:child_process';
import { expect } from 'vitest';

export interface CliRun {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stderr less what is not an error: see runCsattn. */
  errLines: string[];
}

/**
 * `node bin/csattn.js ...args` through Node's spawn. errLines leaves out Dawn's own start-up
 * notices on software adapters (csattn hides them from a terminal or pipe, but spawn gives the
 * child a socket: test/quiet.test.ts) and progress, which goes to stderr as JSON log lines when it
 * is not a terminal.
 */
export function runCsattn(args: string[], o: { env?: NodeJS.ProcessEnv; timeout?: number } = {}): CliRun {
  const r = spawnSync('node', ['bin/csattn.js', ...args], { encoding: 'utf8', env: o.env ?? process.env, timeout: o.timeout ?? 300_000 });
  const errLines = r.stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning: maxDynamic') && !l.startsWith('{'));
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, errLines };
}

/** A failure as users see it: one `csattn: ` line matching `pattern`, exit `status` (any but 0 if not given), no hang. */
export function expectOneLineError(r: CliRun, pattern: RegExp, status?: number): void {
  expect(r.signal).toBeNull(); // not killed by the timeout: it did not hang
  if (status === undefined) expect(r.status).not.toBe(0);
  else expect(r.status).toBe(status);
  expect(r.errLines).toHaveLength(1);
  expect(r.errLines[0]).toMatch(/^csattn: /);
  expect(r.errLines[0]).toMatch(pattern);
}

/**
 * `node bin/csattn.js ...args` with stdout and stderr pipes, as a shell pipeline has them (Node's
 * spawn gives a child socket pairs instead, from which csattn cannot hide Dawn's output).
 */
export function csattnPiped(args: string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; stdout: string; stderr: string } {
  const script = 'set -o pipefail; node bin/csattn.js "$@" 2> >(cat >&2) | cat';
  const r = spawnSync('bash', ['-c', script, 'bash', ...args], { encoding: 'utf8', env, timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `node bin/csattn.js ...args` on a terminal (a pty from script(1)): its output, both streams. */
export function csattnOnTerminal(args: string[]): { status: number | null; output: string } {
  const command = ['node', 'bin/csattn.js', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, output: r.stdout };
}
