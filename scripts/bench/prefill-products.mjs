// Tile shapes for the prefill's tensor-core products (wgsl/matmul_mma.wgsl), generated: each
// variant is the shipped kernel's scheme (a stage of x and W fetched into registers while the last
// is multiplied, then put in workgroup memory; named accumulators) with another cut, timed on the
// four products of one layer-chunk and checked against the shipped kernel's output.
//   node scripts/bench/prefill-products.mjs [--preset llama-3.1-8b] [--chunk 2048] [--variants a,b] [--reps 7] [--json]
//   node scripts/bench/prefill-products.mjs --compile-only [--variants a,b]   (Dawn's null backend: no GPU)
// A variant is `s<M>x<N>-i<I>j<J>-k<BK>[-v]`: M x N subgroups a workgroup, each I x J blocks of 16
// tokens x 16 rows (with SwiGLU J blocks of G and J of U), stages of BK, `-v` W fetched 8 halves a
// load (else 2). The shipped kernel's long cut is s2x2-i4j4-k32 (SwiGLU: s2x4-i4j2-k32), its short
// one s2x2-i2j2-k32 (with SwiGLU too; session 28); both are timed first. Generated cuts are written
// to wgsl/_tiles_*.wgsl for the run (git ignores them) and removed after it.
import { rmSync, writeFileSync } from 'node:fs';
import { create } from 'webgpu';
import { createGpu, SUBGROUP_MATRIX } from '../../dist/gpu/device.js';
import { Kernels, ceilDiv, dispatchOf, kernelSource, record, storage, submit, uniform } from '../../dist/gpu/kernels.js';
import { MMA_LONG_FROM, fillUniform, mmaCut } from '../../dist/ops/dense.js';
import { PRESETS } from '../../dist/model/synth.js';
import { relativeDiff, timeAndRead, timeInRounds } from './variants.mjs';

const args = process.argv.slice(2);
const opt = (name, def) => (args.includes(name) ? args[args.indexOf(name) + 1] : def);
const json = args.includes('--json');
const T = Number(opt('--chunk', 2048));
const reps = Number(opt('--reps', 7)); // rounds
const DEFAULT = 's2x2-i2j4-k32,s2x2-i4j4-k32-v,s2x4-i4j2-k32,s4x2-i4j2-k32-v,s4x2-i2j2-k32-v,s2x4-i2j4-k32-v';
const variants = opt('--variants', DEFAULT).split(',').filter(Boolean);
const SHIPPED = ['shipped', 'shipped-short']; // matmul_mma's long and short cuts
const c = PRESETS[opt('--preset', 'llama-3.1-8b')].config;
const H = c.hidden_size, Hq = c.num_attention_heads, Hkv = c.num_key_value_heads, d = c.head_dim ?? H / Hq;
const products = [
  { name: 'wqkv', K: H, N: (Hq + 2 * Hkv) * d },
  { name: 'wo', K: Hq * d, N: H },
  { name: 'gate/up', K: H, N: c.intermediate_size, swiglu: true },
  { name: 'down', K: c.intermediate_size, N: H },
];

function parse(name) {
  const m = /^s(\d+)x(\d+)-i(\d+)j(\d+)-k(\d+)(-v)?$/.exec(name);
  if (!m) throw new Error(`prefill-products: variant ${name} is not s<M>x<N>-i<I>j<J>-k<BK>[-v]`);
  return { sgm: +m[1], sgn: +m[2], I: +m[3], J: +m[4], bk: +m[5], wide: !!m[6] };
}

const range = (n) => Array.from({ length: n }, (_, i) => i);

/** The WGSL of a cut (before the prelude and #include, which Kernels applies). */
function source({ sgm, sgn, I, J, bk, wide }, swiglu) {
  const SG = sgm * sgn, WG = 32 * SG, TM = sgm * 16 * I, SN = 16 * J, TN = sgn * SN;
  const per = wide ? 8 : 2; // halves a W load
  const XR = (TM * bk) / 4 / WG, WR = (TN * bk) / per / WG;
  if (!Number.isInteger(XR) || !Number.isInteger(WR) || XR < 1 || WR < 1) throw new Error(`a stage of ${TM} x ${bk} / ${TN} x ${bk} does not split over ${WG} threads`);
  const WT = wide ? 'vec4<u32>' : 'u32';
  const acc = (p) => range(I).flatMap((i) => range(J).map((j) => `${p}${i}${j}`));
  const sides = swiglu ? [['c', 'gs', 'w', 'gr'], ['d', 'us', 'w2', 'ur']] : [['c', 'gs', 'w', 'gr']];
  const wLoad = (buf) => (wide ? `${buf}[q]` : `${buf}[q / 4u][q % 4u]`);
  const wPut = (tile, reg) => (wide
    ? `for (var e = 0u; e < 4u; e++) { let h = bitcast<vec2<f16>>((*${reg})[j][e]); ${tile}[at + 2u * e] = h.x; ${tile}[at + 2u * e + 1u] = h.y; }`
    : `let h = bitcast<vec2<f16>>((*${reg})[j]); ${tile}[at] = h.x; ${tile}[at + 1u] = h.y;`);
  return `struct Params { T: u32, K: u32, N: u32, row0: u32, rows: u32 }
#include weight_product
const WG = ${WG}u; const SGM = ${sgm}u; const TM = ${TM}u; const TN = ${TN}u; const SN = ${SN}u;
const BK = ${bk}u; const XS = BK + 8u; const XR = ${XR}u; const WR = ${WR}u; const PER = ${per}u;
alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;
alias XRegs = array<vec4<f32>, XR>;
alias WRegs = array<${WT}, WR>;
var<workgroup> xs: array<f16, TM * XS>;
${sides.map(([, tile]) => `var<workgroup> ${tile}: array<f16, TN * XS>;`).join('\n')}
var<workgroup> out_g: array<f32, ${SG * 256}u>;
${swiglu ? `var<workgroup> out_u: array<f32, ${SG * 256}u>;` : ''}

fn fetch(m0: u32, n0: u32, k0: u32, lid: u32, xr: ptr<function, XRegs>, gr: ptr<function, WRegs>${swiglu ? ', ur: ptr<function, WRegs>' : ''}) {
  for (var j = 0u; j < XR; j++) {
    let i = lid + j * WG;
    let m = i / (BK / 4u);
    let k = 4u * (i % (BK / 4u));
    var v = vec4<f32>();
    if (m0 + m < p.T && k0 + k < p.K) { v = x[((m0 + m) * p.K + k0 + k) / 4u]; }
    (*xr)[j] = v;
  }
  for (var j = 0u; j < WR; j++) {
    let i = lid + j * WG;
    let n = i / (BK / PER);
    let k = PER * (i % (BK / PER));
    let inside = n0 + n < p.rows && k0 + k < p.K;
    let q = ((n0 + n) * p.K + k0 + k) / PER;
${sides.map(([, , buf, reg]) => `    var ${reg}v = ${WT}(); if (inside) { ${reg}v = ${wLoad(buf)}; } (*${reg})[j] = ${reg}v;`).join('\n')}
  }
}

fn put(lid: u32, xr: ptr<function, XRegs>, gr: ptr<function, WRegs>${swiglu ? ', ur: ptr<function, WRegs>' : ''}) {
  for (var j = 0u; j < XR; j++) {
    let i = lid + j * WG;
    let at = i / (BK / 4u) * XS + 4u * (i % (BK / 4u));
    let h = vec4<f16>((*xr)[j]);
    xs[at] = h.x; xs[at + 1u] = h.y; xs[at + 2u] = h.z; xs[at + 3u] = h.w;
  }
  for (var j = 0u; j < WR; j++) {
    let i = lid + j * WG;
    let at = i / (BK / PER) * XS + PER * (i % (BK / PER));
${sides.map(([, tile, , reg]) => `    { ${wPut(tile, reg)} }`).join('\n')}
  }
}

fn emit(g: Acc, u: Acc, t0: u32, r0: u32, sg: u32, lane: u32) {
  subgroupMatrixStore<row_major>(&out_g, sg * 256u, g, 16u);
${swiglu ? '  subgroupMatrixStore<row_major>(&out_u, sg * 256u, u, 16u);' : ''}
  workgroupBarrier();
  let r = lane / 2u;
  let t = t0 + r;
  for (var c = (lane % 2u) * 8u; c < (lane % 2u) * 8u + 8u; c++) {
    let n = r0 + c;
    if (t < p.T && n < p.rows) { store(t, n, out_g[sg * 256u + r * 16u + c], ${swiglu ? 'out_u[sg * 256u + r * 16u + c]' : '0.0'}); }
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let n0 = wid.x * TN;
  let m0 = wid.y * TM;
  let sm = (sg % SGM) * ${16 * I}u;
  let sn = (sg / SGM) * SN;
${sides.map(([a]) => `  ${acc(a).map((v) => `var ${v} = Acc();`).join(' ')}`).join('\n')}
  var xr: XRegs;
${sides.map(([, , , reg]) => `  var ${reg}: WRegs;`).join('\n')}
  fetch(m0, n0, 0u, lid, &xr, ${swiglu ? '&gr, &ur' : '&gr'});
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    put(lid, &xr, ${swiglu ? '&gr, &ur' : '&gr'});
    workgroupBarrier();
    if (k0 + BK < p.K) { fetch(m0, n0, k0 + BK, lid, &xr, ${swiglu ? '&gr, &ur' : '&gr'}); }
    for (var kk = 0u; kk < BK; kk += 16u) {
${range(I).map((i) => `      let a${i} = subgroupMatrixLoad<Left, row_major>(&xs, (sm + ${16 * i}u) * XS + kk, XS);`).join('\n')}
${sides.map(([a, tile]) => range(J).map((j) => `      let ${a}b${j} = subgroupMatrixLoad<Right, col_major>(&${tile}, (sn + ${16 * j}u) * XS + kk, XS);`).join('\n')).join('\n')}
${sides.map(([a]) => range(I).map((i) => `      ${range(J).map((j) => `${a}${i}${j} = subgroupMatrixMultiplyAccumulate(a${i}, ${a}b${j}, ${a}${i}${j});`).join(' ')}`).join('\n')).join('\n')}
    }
    workgroupBarrier();
  }
${range(I).flatMap((i) => range(J).map((j) => `  emit(c${i}${j}, ${swiglu ? `d${i}${j}` : `c${i}${j}`}, m0 + sm + ${16 * i}u, n0 + sn + ${16 * j}u, sg, lane);`)).join('\n')}
}
`;
}

// Kernels reads wgsl/NAME.wgsl: each generated cut goes there for the run.
const dir = new URL('../../wgsl/', import.meta.url);
const written = [];
const fileOf = (name, swiglu) => {
  const file = `_tiles_${name.replace(/-/g, '_')}${swiglu ? '_swiglu' : ''}`;
  if (!written.includes(file)) {
    writeFileSync(new URL(`${file}.wgsl`, dir), source(parse(name), swiglu));
    written.push(file);
  }
  return file;
};

if (args.includes('--compile-only')) {
  // Every cut through Tint and Dawn's null backend (no GPU needed): their compiler messages.
  const gpuNull = create(['backend=null', 'enable-dawn-features=allow_unsafe_apis']); // held: the adapter needs it alive
  const adapter = await gpuNull.requestAdapter();
  const device = await adapter.requestDevice({ requiredFeatures: ['shader-f16', 'subgroups', SUBGROUP_MATRIX] });
  try {
    for (const v of variants) for (const swiglu of [false, true]) {
      const defines = new Set(['F16', 'SUBGROUPS', 'MMA', ...(swiglu ? ['SWIGLU', 'EXTRA'] : [])]);
      const module = device.createShaderModule({ code: kernelSource(fileOf(v, swiglu), defines) });
      const { messages } = await module.getCompilationInfo();
      console.log(`${v}${swiglu ? ' (SwiGLU)' : ''}: ${messages.length ? messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('; ') : 'compiles'}`);
    }
  } finally {
    for (const f of written) rmSync(new URL(`${f}.wgsl`, dir), { force: true });
  }
  process.exit(0);
}

const gpu = await createGpu();
if (!gpu.tensorCores) throw new Error('prefill-products.mjs times tensor-core kernels: this GPU has no tensor cores through Dawn');
const k = new Kernels(gpu);
const kernelOf = (name, swiglu) => k.get(fileOf(name, swiglu), { defines: ['MMA', ...(swiglu ? ['SWIGLU', 'EXTRA'] : [])] });

let seed = 1;
const filled = (n, half) => {
  const b = storage(gpu, n * 2);
  submit(gpu, (pass) => record(pass, fillUniform(k, { out: b, n, center: 0, half, seed: seed++ })));
  return b;
};

const results = [];
try {
  for (const p of products) {
    const x = storage(gpu, T * p.K * 4);
    gpu.device.queue.writeBuffer(x, 0, new Float32Array(T * p.K).map((_, i) => Math.sin(i) * 0.5));
    const w = filled(p.N * p.K, 1 / Math.sqrt(p.K));
    const w2 = p.swiglu ? filled(p.N * p.K, 1 / Math.sqrt(p.K)) : undefined;
    const y = storage(gpu, T * p.N * 4);
    const params = uniform(gpu, [T, p.K, p.N, 0, p.N]);
    const bindings = [x, w, ...(w2 ? [w2] : []), y, params];
    const flop = 2 * T * p.N * p.K * (p.swiglu ? 2 : 1);
    // The shipped kernel's two cuts (ops/dense.ts picks by the tokens), then the generated ones.
    const shipped = (short) => {
      const cut = mmaCut(short ? MMA_LONG_FROM - 1 : MMA_LONG_FROM, !!p.swiglu);
      return dispatchOf(k.get('matmul_mma', { defines: ['MMA', ...(p.swiglu ? ['SWIGLU', 'EXTRA'] : [])], constants: cut.constants }),
        bindings, [ceilDiv(p.N, cut.rows), ceilDiv(T, cut.tokens)]);
    };
    // Each cut compiled and run once, its output kept (one at a time: a compile error reaches the
    // next read-back), then all timed in rounds.
    const cuts = [];
    for (const v of SHIPPED.concat(variants)) {
      let c;
      try {
        const cut = SHIPPED.includes(v) ? null : parse(v);
        c = { name: v, op: cut ? dispatchOf(kernelOf(v, !!p.swiglu), bindings, [ceilDiv(p.N, cut.sgn * 16 * cut.J), ceilDiv(T, cut.sgm * 16 * cut.I)]) : shipped(v === 'shipped-short') };
        const r = await timeAndRead(gpu, c.op, y, 1);
        if (r.error) c.error = r.error; else c.got = r.got;
      } catch (e) {
        c = { name: v, error: String(e.message ?? e).split('\n')[0] };
      }
      cuts.push(c);
    }
    await timeInRounds(gpu, cuts, reps);
    for (const c of cuts) {
      const out = c.error ? { product: p.name, variant: c.name, error: c.error }
        : { product: p.name, T, K: p.K, N: p.N, variant: c.name, ms: c.ms, tflops: flop / c.ms / 1e9, relDiff: relativeDiff(c.got, cuts[0].got) };
      results.push(out);
      if (!json) console.log(out.error ? `${p.name}, ${c.name}: ${out.error}` : `${p.name} (${T} x ${p.K} -> ${p.N}${p.swiglu ? ' x2' : ''}), ${c.name}: ${out.ms.toFixed(3)} ms, ${out.tflops.toFixed(1)} TFLOP/s, Δ ${out.relDiff.toExponential(1)} of max |y|`);
    }
    for (const b of [x, w, w2, y, params]) b?.destroy();
  }
} finally {
  for (const f of written) rmSync(new URL(`${f}.wgsl`, dir), { force: true });
}
if (!json) {
  for (const v of SHIPPED.concat(variants)) {
    const rs = results.filter((r) => r.variant === v && r.ms !== undefined);
    if (rs.length === products.length) console.log(`${v}: the four products ${rs.reduce((s, r) => s + r.ms, 0).toFixed(2)} ms a layer-chunk`);
  }
}
if (json) process.stdout.write(JSON.stringify({ probe: 'prefill-products', adapter: gpu.adapterName, results }) + '\n');
process.exit(0);
