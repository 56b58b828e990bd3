// matmul.wgsl for a decode batch of at most 16 tokens, on tensor cores (subgroup matrices, f16 x f16
// -> f32 at 16x16x16, subgroups of 32; needs the MMA and F16 defines): y[t, n] (=, or += with
// ACCUMULATE) Σ_k x[t, k]·W[n, k] (+ bias[n] with BIAS); with SWIGLU, y = silu(x·Gᵀ) ⊙ (x·Uᵀ).
// Each weight is read once for all the tokens, as the matvec reads it for one; 16 tokens take 16
// FLOP a weight byte, 69 TFLOP/s at 4.3 TB/s, past what f32 lanes do, so the tensor cores multiply.
// matmul_mma's 64 x 128 tiles left most of the GPU idle here (32 workgroups for 4096 rows: 33 ms
// of products a step at B = 16 against 4.4 for the matvec at B = 1, H200, 2026-12-05).
//
// A workgroup owns TN = 32 rows of W (with SWIGLU: 16 rows of G and the same 16 of U) and the 16
// token rows of x (zero past T). Its 4 subgroups split K: of each stage's SK = 4·BK values of k,
// subgroup s multiplies [s·BK, s·BK + BK), into two 16 x 16 accumulators (tile rows 0-15 and
// 16-31); the four subgroups' sums meet in workgroup memory at the end. A stage is fetched into
// registers while the previous one is multiplied (as in matmul_mma), x rounded to f16 on its way
// into workgroup memory.

struct Params { T: u32, K: u32, N: u32, row0: u32, rows: u32 }

#include weight_product

const SG = 4u;
const WG = 32u * SG;
const TM = 16u;          // tokens
const TN = 32u;          // rows of W per workgroup
#if SWIGLU
const OUT_ROWS = 16u;    // rows of y per workgroup: G's tile rows 0-15, U's 16-31
#else
const OUT_ROWS = TN;
#endif
const BK = 64u;          // k per subgroup and stage
const SK = SG * BK;      // k per stage
const XS = SK + 8u;      // padded row stride (f16)

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

var<workgroup> xs: array<f16, TM * XS>;          // [token][k]
var<workgroup> ws: array<f16, TN * XS>;          // [row][k]: read column-major, it is Wᵀ
var<workgroup> part: array<f32, SG * 2u * 256u>; // [subgroup][accumulator][token][row]

const XR = TM * SK / 4u / WG;   // vec4s of x a thread fetches per stage
const WR = TN * SK / 8u / WG;   // 16-byte words of W
alias XRegs = array<vec4<f32>, XR>;
alias WRegs = array<vec4<u32>, WR>;

// The W row behind tile row n (zero words past the weight's rows).
fn w_word(n: u32, r0: u32, at: u32) -> vec4<u32> {
#if SWIGLU
  let row = r0 + n % OUT_ROWS;
  if (row >= p.rows) { return vec4<u32>(); }
  if (n >= OUT_ROWS) { return w2[row * (p.K / 8u) + at]; }
  return w[row * (p.K / 8u) + at];
#else
  let row = r0 + n;
  if (row >= p.rows) { return vec4<u32>(); }
  return w[row * (p.K / 8u) + at];
#endif
}

// x[.., k0 .. k0+SK) and the tile's W rows over the same k, zero past T, the rows and K (a multiple of 8).
fn fetch(r0: u32, k0: u32, lid: u32, xr: ptr<function, XRegs>, wr: ptr<function, WRegs>) {
  for (var j = 0u; j < XR; j++) {
    let i = lid + j * WG;
    let m = i / (SK / 4u);
    let k = k0 + 4u * (i % (SK / 4u));
    var v = vec4<f32>();
    if (m < p.T && k < p.K) { v = x[(m * p.K + k) / 4u]; }
    (*xr)[j] = v;
  }
  for (var j = 0u; j < WR; j++) {
    let i = lid + j * WG;
    let k = k0 + 8u * (i % (SK / 8u));
    var v = vec4<u32>();
    if (k < p.K) { v = w_word(i / (SK / 8u), r0, k / 8u); }
    (*wr)[j] = v;
  }
}

fn put(lid: u32, xr: ptr<function, XRegs>, wr: ptr<function, WRegs>) {
  for (var j = 0u; j < XR; j++) {
    let i = lid + j * WG;
    let at = i / (SK / 4u) * XS + 4u * (i % (SK / 4u));
    let h = vec4<f16>((*xr)[j]);
    xs[at] = h.x; xs[at + 1u] = h.y; xs[at + 2u] = h.z; xs[at + 3u] = h.w;
  }
  for (var j = 0u; j < WR; j++) {
    let i = lid + j * WG;
    let at = i / (SK / 8u) * XS + 8u * (i % (SK / 8u));
    let v = (*wr)[j];
    for (var c = 0u; c < 4u; c++) {
      let h = bitcast<vec2<f16>>(v[c]);
      ws[at + 2u * c] = h.x;
      ws[at + 2u * c + 1u] = h.y;
    }
  }
}

fn mma(a: Left, b: Right, c: Acc) -> Acc { return subgroupMatrixMultiplyAccumulate(a, b, c); }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_id) sg: u32) {
  let r0 = (wid.x + wid.y * groups.x) * OUT_ROWS;
  if (r0 >= p.rows) { return; }  // the whole workgroup: a flat grid's spare workgroups
  var c0 = Acc();  // tile rows 0-15
  var c1 = Acc();  // tile rows 16-31
  var xr: XRegs;
  var wr: WRegs;
  fetch(r0, 0u, lid, &xr, &wr);
  for (var k0 = 0u; k0 < p.K; k0 += SK) {
    put(lid, &xr, &wr);
    workgroupBarrier();
    if (k0 + SK < p.K) { fetch(r0, k0 + SK, lid, &xr, &wr); }
    for (var i = 0u; i < BK / 16u; i++) {  // uniform bounds: subgroup matrices need uniform control flow
      let kk = sg * BK + 16u * i;
      let a = subgroupMatrixLoad<Left, row_major>(&xs, kk, XS);
      c0 = mma(a, subgroupMatrixLoad<Right, col_major>(&ws, kk, XS), c0);
      c1 = mma(a, subgroupMatrixLoad<Right, col_major>(&ws, 16u * XS + kk, XS), c1);
    }
    workgroupBarrier();
  }
  subgroupMatrixStore<row_major>(&part, sg * 512u, c0, 16u);
  subgroupMatrixStore<row_major>(&part, sg * 512u + 256u, c1, 16u);
  workgroupBarrier();
  // Output (t, n) sums tile row n's accumulator over the subgroups (with SWIGLU, G's and U's).
  for (var e = lid; e < TM * OUT_ROWS; e += WG) {
    let t = e / OUT_ROWS;
    let n = e % OUT_ROWS;
    var g = 0.0;
    var u = 0.0;
    for (var s = 0u; s < SG; s++) {
#if SWIGLU
      g += part[s * 512u + t * 16u + n];
      u += part[s * 512u + 256u + t * 16u + n];
#else
      g += part[s * 512u + (n / 16u) * 256u + t * 16u + n % 16u];
#endif
    }
    if (t < p.T && r0 + n < p.rows) { store(t, r0 + n, g, u); }
  }
}
