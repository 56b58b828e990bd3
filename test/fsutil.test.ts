/** Temp files of interrupted writes are removed: Ctrl-C mid-write leaves no partial file. */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('interrupted writes', () => {
  it('SIGINT while a temp file is being written removes it and exits 130', () => {
    const dir = mkdtempSync(join(tmpdir(), 'csattn-fs-'));
    const target = join(dir, 'out.csa');
    const script = `
      import { exitOnSignals, tempPathFor } from './dist/fsutil.js';
      import { writeFileSync } from 'node:fs';
      exitOnSignals();
      const { tmp } = tempPathFor(${JSON.stringify(target)});
      writeFileSync(tmp, 'half a bundle');
      console.log(tmp);
      process.kill(process.pid, 'SIGINT');
      setTimeout(() => {}, 5000);`;
    const r = spawnSync('node', ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(r.status).toBe(130);
    expect(r.stdout.trim()).toMatch(/out\.csa\.tmp-/);
    expect(existsSync(r.stdout.trim())).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});
