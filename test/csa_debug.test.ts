import { it } from 'vitest';
import { upload, uniform, run, storage, readBuffer } from '../src/gpu/kernels.js';
import { gpuContext } from './helpers/gpu.js';
import { f32ToF16 } from '../src/weights/f16.js';
it('debug', async () => {
  const c = await gpuContext(true);
  const N = 300, L = 60, rows = 2, words = 150, lcap = 64;
  const vals = new Float32Array(rows * N).map((_, i) => (i * 37 % 101) / 10 - 5);
  const sc = upload(c.gpu, new Uint32Array(f32ToF16(vals).buffer));
  for (const dbg of [0, 1, 2]) {
  const tmp = storage(c.gpu, 2 * rows * L * 8), li = storage(c.gpu, rows * lcap * 4), ls = storage(c.gpu, rows * lcap * 4), ll = storage(c.gpu, rows * 4);
  run(c.kernels.get('csa_dbg', {constants: {DBG: dbg}}), [sc, tmp, li, ls, ll, uniform(c.gpu, [N, words, L, lcap, rows, 0])], [rows]);
  const t = new Uint32Array(await readBuffer(c.gpu, tmp));
  console.log('DBG', dbg, 'A', Array.from(t.subarray(0, 120)).filter((_, i) => i % 2 == 1).join(','));
  console.log('DBG', dbg, 'B', Array.from(t.subarray(rows * L * 2, rows * L * 2 + 120)).filter((_, i) => i % 2 == 1).join(','));
  }
  const want = Array.from({length: N}, (_, i) => i).filter(i => vals[i] >= [...vals.subarray(0,N)].sort((a,b)=>b-a)[L-1]);
  console.log('want', want.join(','));
});
