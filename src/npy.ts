/** Writes a float32 array as a NumPy .npy file (format 1.0), through a temp file and a rename. */
import { writeFileAtomic } from './fsutil.js';

export async function writeNpy(path: string, data: Float32Array, shape: number[]): Promise<void> {
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  // Magic (6) + version (2) + header length (2) + header, padded with spaces to 64 bytes, '\n' last.
  const headerLen = Math.ceil((10 + dict.length + 1) / 64) * 64 - 10;
  const header = Buffer.alloc(10 + headerLen, 0x20);
  header.write('\x93NUMPY', 0, 'latin1');
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(headerLen, 8);
  header.write(dict, 10, 'latin1');
  header[10 + headerLen - 1] = 0x0a;
  await writeFileAtomic(path, [header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}
