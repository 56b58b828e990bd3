import { createGpu } from '../../../dist/gpu/device.js';
import { loadModel } from '../../../dist/model/load.js';
const gpu = await createGpu();
const model = await loadModel(gpu, 'fixtures/models/tinylm', { capacity: 4096, chunkSize: 512 });
const base = gpu.memory.current;
for (let T = 1; T <= 80; T++) {
  await model.prefill(Array.from({ length: T }, (_, i) => (i * 37 + T) % 8000), 0, { logits: 'last' });
  if (T % 20 === 0) console.log(T, ((gpu.memory.current - base) / 1e6).toFixed(1), 'MB beyond the model');
}
