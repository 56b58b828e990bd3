// Prints "N passed, N failed" from vitest's JSON results; fails when no test ran.
import { readFileSync } from 'node:fs';

let r;
try {
  r = JSON.parse(readFileSync(process.argv[2] ?? '.vitest-results.json', 'utf8'));
} catch {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const passed = r.numPassedTests ?? 0;
const failed = (r.numFailedTests ?? 0) + (r.numFailedTestSuites ?? 0);
const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 && passed > 0 && skipped === 0 ? 0 : 1);
