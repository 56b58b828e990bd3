#!/usr/bin/env node
import { main } from '../dist/cli.js';
import { errorLine } from '../dist/errors.js';

main(process.argv).catch((err) => {
  process.stderr.write(`${errorLine(err)}\n`);
  process.exit(1);
});
