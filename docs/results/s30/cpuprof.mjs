// Summarizes a V8 .cpuprofile: self and inclusive ms by function (top N), and the idle share.
import { readFileSync } from 'node:fs';
const [file, n = '45'] = process.argv.slice(2);
const p = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(p.nodes.map((x) => [x.id, x]));
const parent = new Map();
for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
const dt = new Map();
for (let i = 0; i < p.samples.length; i++) dt.set(p.samples[i], (dt.get(p.samples[i]) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
const name = (x) => `${x.callFrame.functionName || '(anon)'} ${x.callFrame.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${x.callFrame.lineNumber + 1}`;
const self = new Map(), incl = new Map();
let total = 0;
for (const [id, ms] of dt) {
  total += ms;
  const x = byId.get(id);
  self.set(name(x), (self.get(name(x)) ?? 0) + ms);
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const k = name(byId.get(at));
    if (!seen.has(k)) { seen.add(k); incl.set(k, (incl.get(k) ?? 0) + ms); }
  }
}
const top = (m) => [...m].sort((a, b) => b[1] - a[1]).slice(0, +n).map(([k, v]) => `${v.toFixed(0).padStart(8)} ms  ${k}`).join('\n');
console.log(`total ${total.toFixed(0)} ms\n--- self\n${top(self)}\n--- inclusive\n${top(incl)}`);
