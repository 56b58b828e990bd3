/**
 * A user's terminal shows csattn's messages only. What Dawn prints while it enumerates adapters (on
 * lavapipe: "Warning: maxDynamic...BuffersPerPipelineLayout artificially reduced ...") goes to the
 * log at debug level instead, when stderr is a terminal or a pipe.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { DAWN_FLAGS } from '../src/gpu/device.js';
import { csattnOnTerminal, csattnPiped } from './helpers/cli.js';

const lines = (s: string) => s.split('\n').map((l) => l.trimEnd()).filter(Boolean);
const GENERATE = ['generate', '--prompt', 'hi', '--max-tokens', '2'];

/** What Dawn itself prints to stderr when it looks for adapters with csattn's flags. */
function dawnOwnOutput(): { lines: string[]; software: boolean } {
  const script = `import { create } from 'webgpu';
    const gpu = create(${JSON.stringify(DAWN_FLAGS)});
    const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    console.log(JSON.stringify(a.info.isFallbackAdapter));
    process.exit(0);`;
  const r = spawnSync('node', ['--input-type=module', '-e', script], { encoding: 'utf8' });
  return { lines: lines(r.stderr), software: JSON.parse(r.stdout) };
}

describe("Dawn's start-up output", () => {
  const dawn = dawnOwnOutput();
  const fromDawn = (l: string) => l.startsWith('Warning:') || dawn.lines.includes(l);

  it('is there to hide (lavapipe prints its limit notices)', () => {
    if (dawn.software) expect(dawn.lines.some((l) => /^Warning: .* artificially reduced/.test(l))).toBe(true);
  });
  it('does not reach a pipe at the default log level', () => {
    const r = csattnPiped(GENERATE);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).not.toBe('');
    expect(lines(r.stderr).filter(fromDawn)).toEqual([]);
  });
  it('does not reach a terminal', () => {
    const r = csattnOnTerminal(GENERATE);
    expect(r.status).toBe(0);
    expect(lines(r.output).filter(fromDawn)).toEqual([]);
  });
  it('is in the log at debug level', () => {
    const r = csattnPiped([...GENERATE, '--log-level', 'debug']);
    expect(r.status).toBe(0);
    const logged = lines(r.stderr).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((e) => e.source === 'dawn');
    expect(logged.map((e) => e.msg)).toEqual(dawn.lines);
    expect(logged.every((e) => e.level === 20)).toBe(true);
    expect(lines(r.stderr).filter((l) => !l.startsWith('{'))).toEqual([]);
  });
});
