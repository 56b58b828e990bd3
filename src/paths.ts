/** What ships with csattn, found from the installed package (dist/ sits at the package root). */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The bundled model: tinylm (fixtures/models/tinylm/README.md). */
export const DEFAULT_MODEL = join(PACKAGE_ROOT, 'fixtures', 'models', 'tinylm');
/** The demo's document (held-out text with facts spliced in) and its question. */
export const DEMO_DOCUMENT = join(PACKAGE_ROOT, 'fixtures', 'docs', 'demo.txt');
export const DEMO_QUESTION = join(PACKAGE_ROOT, 'fixtures', 'docs', 'demo.question.json');
