/** Simulated faults that cannot be made for real in a test. */
import { CsattnError } from '../../src/errors.js';
import type { Gpu } from '../../src/gpu/device.js';

/** What device.lost records when the driver drops the device (see createGpu). */
export function simulateDeviceLoss(gpu: Gpu, message = 'test'): CsattnError {
  const e = new CsattnError(`GPU device lost: ${message}`, 'device-lost');
  gpu.failure = e;
  return e;
}

/** The error Node gives when a write hits a full disk. */
export function enospc(): NodeJS.ErrnoException {
  return Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
}
