// Records the kernels a csattn command asks for (name, defines, constants) into $SPY_OUT, for compile-par.mjs:
//   SPY_OUT=/tmp/specs-prefill.json node --import ./docs/results/s31/spy.mjs bin/csattn.js prefill DOC -o /tmp/x.csa
import { Kernels } from '../../../dist/gpu/kernels.js';
import { writeFileSync } from 'node:fs';
const specs = [];
const describe = Kernels.prototype.descriptor;
Kernels.prototype.descriptor = function (name, opts) { specs.push({ name, opts }); return describe.call(this, name, opts); };
process.on('exit', () => writeFileSync(process.env.SPY_OUT ?? '/tmp/specs.json', JSON.stringify(specs)));
