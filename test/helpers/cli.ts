/** Running the built CLI (dist/) as a user would. */
import { spawnSync } from 'node:child_process';

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
