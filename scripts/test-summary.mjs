// Prints "N passed, N failed" from vitest's JSON results; fails when no test ran. With vitest's exit
// status as the second argument, a non-zero status with no failed test (an unhandled error between
// tests) counts as one failure.
import { readFileSync } from 'node:fs';

let r;
try {
  r = JSON.parse(readFileSync(process.argv[2] ?? '.vitest-results.json', 'utf8'));
} catch {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const passed = r.numPassedTests ?? 0;
const counted = (r.numFailedTests ?? 0) + (r.numFailedTestSuites ?? 0);
const status = Number(process.argv[3] ?? 0);
if (status !== 0 && counted === 0) console.error(`vitest exited with status ${status} though no test failed (an unhandled error?)`);
const failed = counted + (status !== 0 && counted === 0 ? 1 : 0);
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 && passed > 0 && skipped === 0 ? 0 : 1);
