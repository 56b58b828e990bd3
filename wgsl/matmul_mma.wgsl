// matmul.wgsl on tensor cores (subgroup matrices, f16 x f16 -> f32 at 16x16x16, subgroups of 32;
// needs the MMA and F16 defines): y[t, n] (=, or += with ACCUMULATE) Σ_k x[t, k]·W[n, k] (+ bias[n]
// with BIAS); with SWIGLU, y = silu(x·Gᵀ) ⊙ (x·Uᵀ) for G = w, U = w2. x is rounded to f16 on its way
// into workgroup memory (as an f16 model's activations are); products and sums stay f32.
//
// A workgroup computes a 128-token × 128-row tile of y; each subgroup 64 tokens of it, and 64 rows
// (4 subgroups), or with SWIGLU 32 rows of G and the same 32 of U (8 subgroups). BK-wide stages of
// x and W go through workgroup memory, rows padded to XS f16 so that the rows of a matrix load fall
// on different banks. Accumulators are named variables, never arrays: an array of subgroup matrices
// indexed in a loop lands in local memory (measured on an H100: 26 against 231 TFLOP/s). The cut
// was chosen by scripts/bench/prefill-products.mjs (docs/perf-notes.md, session 27): subgroups of 64 x
// 64 outputs read 8 matrices from workgroup memory for 16 products, against 6 for 8 with 32 x 64.
// Few tokens (a decode batch, a question) leave most of such tiles empty and too few workgroups to
// fill the GPU: there the host takes the short cut, TI = 2 (32 tokens a subgroup, 64 a workgroup)
// and 64 rows a workgroup: without SWIGLU TJ = 2 (32 rows a subgroup), with it 4 subgroups, through
// the same code (the TI > 2 and TJ > 2 parts fold away).

struct Params { T: u32, K: u32, N: u32, row0: u32, rows: u32 }

#include weight_product

override TI: u32 = 4u;   // 16-token blocks a subgroup: 4, or 2 for the short cut
#if SWIGLU
override SG: u32 = 8u;   // subgroups: 8, or 4 for the short cut
const TJ = 4u;           // 16-row blocks of W a subgroup: two of G and the same two of U
const SN = 32u;          // rows per subgroup: gate and up side by side
#else
override SG: u32 = 4u;
override TJ: u32 = 4u;   // 16-row blocks a subgroup: 4, or 2 for the short cut
override SN: u32 = 16u * TJ;
#endif
const SGM = 2u;          // subgroups along tokens (the rest along rows)
override WG: u32 = 32u * SG;
override TM: u32 = SGM * 16u * TI;   // tokens per workgroup
override TN: u32 = SN * SG / SGM;    // rows per workgroup
const BK = 32u;          // k per stage
const XS = BK + 8u;      // padded row stride: 80 bytes put 8 consecutive rows on 8 bank groups

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

// Sized by the cut (override-sized workgroup arrays): the short cut's footprint decides how many
// of its workgroups share an SM.
var<workgroup> xs: array<f16, TM * XS>;   // [token][k]
var<workgroup> gs: array<f16, TN * XS>;   // [row][k]: read column-major, it is Wᵀ
#if SWIGLU
var<workgroup> us: array<f16, TN * XS>;
#endif
var<workgroup> out_g: array<f32, SG * 256u>;  // one 16 × 16 result per subgroup on its way out
#if SWIGLU
var<workgroup> out_u: array<f32, SG * 256u>;
#endif

// A stage is fetched into registers (XR vec4s of x, WR words of W per thread, all loads issued
// back to back) while the previous one is multiplied, then put into workgroup memory: loads that
// wait for each other in turn left the tensor cores idle (14 against 111 TFLOP/s, measured).
// Loads of 8 halves of W (a vec4 of words) instead of 2 ran from 4% faster to 19% slower (session 27).
override XR: u32 = TM * BK / 4u / WG;
override WR: u32 = TN * BK / 2u / WG;
alias XRegs = array<vec4<f32>, 8u>;   // XR at most
alias WRegs = array<u32, 16u>;        // WR at most

// x[m0 .., k0 .. k0+BK) and W[n0 .., k0 .. k0+BK) (U too with SWIGLU), zero past the edges (K is
// a multiple of 8). Consecutive threads take consecutive vec4s of x and words of W.
fn fetch(m0: u32, n0: u32, k0: u32, lid: u32, xr: ptr<function, XRegs>, gr: ptr<function, WRegs>, ur: ptr<function, WRegs>) {
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
    let n = i / (BK / 2u);
    let k = 2u * (i % (BK / 2u));
    let inside = n0 + n < p.rows && k0 + k < p.K;
    let word = ((n0 + n) * p.K + k0 + k) / 2u;   // of w, bound as vec4s of words
    var g = 0u;
    if (inside) { g = w[word / 4u][word % 4u]; }
    (*gr)[j] = g;
#if SWIGLU
    var u = 0u;
    if (inside) { u = w2[word / 4u][word % 4u]; }
    (*ur)[j] = u;
#endif
  }
}

fn put(lid: u32, xr: ptr<function, XRegs>, gr: ptr<function, WRegs>, ur: ptr<function, WRegs>) {
  for (var j = 0u; j < XR; j++) {
    let i = lid + j * WG;
    let at = i / (BK / 4u) * XS + 4u * (i % (BK / 4u));
    let h = vec4<f16>((*xr)[j]);
    xs[at] = h.x; xs[at + 1u] = h.y; xs[at + 2u] = h.z; xs[at + 3u] = h.w;
  }
  for (var j = 0u; j < WR; j++) {
    let i = lid + j * WG;
    let at = i / (BK / 2u) * XS + 2u * (i % (BK / 2u));
    let g = bitcast<vec2<f16>>((*gr)[j]);
    gs[at] = g.x;
    gs[at + 1u] = g.y;
#if SWIGLU
    let u = bitcast<vec2<f16>>((*ur)[j]);
    us[at] = u.x;
    us[at + 1u] = u.y;
#endif
  }
}

fn left(row: u32, k: u32) -> Left { return subgroupMatrixLoad<Left, row_major>(&xs, row * XS + k, XS); }
fn right_g(row: u32, k: u32) -> Right { return subgroupMatrixLoad<Right, col_major>(&gs, row * XS + k, XS); }
#if SWIGLU
fn right_u(row: u32, k: u32) -> Right { return subgroupMatrixLoad<Right, col_major>(&us, row * XS + k, XS); }
#endif
fn mma(a: Left, b: Right, c: Acc) -> Acc { return subgroupMatrixMultiplyAccumulate(a, b, c); }

// A 16 × 16 result (and its up-projection twin) through workgroup memory to y: lane l takes row
// l / 2, 8 columns.
fn emit(g: Acc, u: Acc, t0: u32, r0: u32, sg: u32, lane: u32) {
  subgroupMatrixStore<row_major>(&out_g, sg * 256u, g, 16u);
#if SWIGLU
  subgroupMatrixStore<row_major>(&out_u, sg * 256u, u, 16u);
#endif
  workgroupBarrier();
  let r = lane / 2u;
  let t = t0 + r;
  for (var c = (lane % 2u) * 8u; c < (lane % 2u) * 8u + 8u; c++) {
    let n = r0 + c;
    if (t < p.T && n < p.rows) {
#if SWIGLU
      store(t, n, out_g[sg * 256u + r * 16u + c], out_u[sg * 256u + r * 16u + c]);
#else
      store(t, n, out_g[sg * 256u + r * 16u + c], 0.0);
#endif
    }
  }
  workgroupBarrier();
}

// Row block t0 of a subgroup's results: cI0 .. cI3 are rows r0 + 16·J (with SWIGLU, cI0 and cI1 are
// G's rows r0 and r0 + 16, cI2 and cI3 U's same rows).
fn emit_row(c0: Acc, c1: Acc, c2: Acc, c3: Acc, t0: u32, r0: u32, sg: u32, lane: u32) {
#if SWIGLU
  emit(c0, c2, t0, r0, sg, lane); emit(c1, c3, t0, r0 + 16u, sg, lane);
#else
  emit(c0, c0, t0, r0, sg, lane); emit(c1, c1, t0, r0 + 16u, sg, lane);
  if (TJ > 2u) { emit(c2, c2, t0, r0 + 32u, sg, lane); emit(c3, c3, t0, r0 + 48u, sg, lane); }
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_id) sg: u32, @builtin(subgroup_invocation_id) lane: u32) {
  let n0 = wid.x * TN;
  let m0 = wid.y * TM;
  let sm = (sg % SGM) * 16u * TI;
  let sn = (sg / SGM) * SN;
  // cIJ: tokens sm + 16·I, and rows sn + 16·J (with SWIGLU: J = 0, 1 G's rows sn, sn + 16; 2, 3 U's).
  var c00 = Acc(); var c01 = Acc(); var c02 = Acc(); var c03 = Acc();
  var c10 = Acc(); var c11 = Acc(); var c12 = Acc(); var c13 = Acc();
  var c20 = Acc(); var c21 = Acc(); var c22 = Acc(); var c23 = Acc();
  var c30 = Acc(); var c31 = Acc(); var c32 = Acc(); var c33 = Acc();
  var xr: XRegs;
  var gr: WRegs;
  var ur: WRegs;
  fetch(m0, n0, 0u, lid, &xr, &gr, &ur);
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    put(lid, &xr, &gr, &ur);
    workgroupBarrier();
    if (k0 + BK < p.K) { fetch(m0, n0, k0 + BK, lid, &xr, &gr, &ur); }
    for (var kk = 0u; kk < BK; kk += 16u) {
      let a0 = left(sm, kk);
      let a1 = left(sm + 16u, kk);
      let b0 = right_g(sn, kk);
      let b1 = right_g(sn + 16u, kk);
#if SWIGLU
      let b2 = right_u(sn, kk);
      let b3 = right_u(sn + 16u, kk);
#else
      var b2 = Right();
      var b3 = Right();
      if (TJ > 2u) { b2 = right_g(sn + 32u, kk); b3 = right_g(sn + 48u, kk); }
#endif
      c00 = mma(a0, b0, c00); c01 = mma(a0, b1, c01);
      c10 = mma(a1, b0, c10); c11 = mma(a1, b1, c11);
      if (TJ > 2u) { c02 = mma(a0, b2, c02); c03 = mma(a0, b3, c03); c12 = mma(a1, b2, c12); c13 = mma(a1, b3, c13); }
      if (TI > 2u) {
        let a2 = left(sm + 32u, kk);
        let a3 = left(sm + 48u, kk);
        c20 = mma(a2, b0, c20); c21 = mma(a2, b1, c21);
        c30 = mma(a3, b0, c30); c31 = mma(a3, b1, c31);
        if (TJ > 2u) { c22 = mma(a2, b2, c22); c23 = mma(a2, b3, c23); c32 = mma(a3, b2, c32); c33 = mma(a3, b3, c33); }
      }
    }
    workgroupBarrier();
  }

  let t0 = m0 + sm;
  let r0 = n0 + sn;
  emit_row(c00, c01, c02, c03, t0, r0, sg, lane);
  emit_row(c10, c11, c12, c13, t0 + 16u, r0, sg, lane);
  if (TI > 2u) {
    emit_row(c20, c21, c22, c23, t0 + 32u, r0, sg, lane);
    emit_row(c30, c31, c32, c33, t0 + 48u, r0, sg, lane);
  }
}
