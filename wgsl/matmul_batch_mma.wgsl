// matmul.wgsl for a decode batch of at most 16 tokens, on tensor cores (subgroup matrices, f16 x f16
// -> f32 at 16x16x16, subgroups of 32; needs the MMA, F16 and W_HALVES defines): y[t, n] (=, or +=
// with ACCUMULATE) Σ_k x[t, k]·W[n, k] (+ bias[n] with BIAS); with SWIGLU, y = silu(x·Gᵀ) ⊙ (x·Uᵀ).
// Each weight is read once for all the tokens, as the matvec reads it for one; 16 tokens take 16
// FLOP a weight byte, 69 TFLOP/s at 4.3 TB/s, past what f32 lanes do, so the tensor cores multiply.
//
// A workgroup owns TN = 32 rows of W (with SWIGLU: 16 rows of G and the same 16 of U) and the 16
// token rows of x (zero past T). Its 4 subgroups split K: of each stage's SK = 4·BK values of k,
// subgroup s multiplies [s·BK, s·BK + BK), into two 16 x 16 accumulators (tile rows 0-15 and
// 16-31); the four subgroups' sums meet in workgroup memory at the end. W's tiles are loaded
// straight from storage into matrix registers (staged through workgroup memory, as matmul_mma stages
// them, the products took 29.7 ms of a B = 16 step: every weight went through a store and a load
// for 16 multiplies; H200, 2026-12-05). x goes through workgroup memory, rounded to f16, a stage at
// a time, fetched into registers while the previous stage is multiplied.
// The host guarantees K % 16 == 0 and at least TN rows (so a last, partial tile is moved back to
// end at the last row, its rows before the tile's own left to the tile before).

struct Params { T: u32, K: u32, N: u32, row0: u32, rows: u32 }

#include weight_product

const SG = 4u;
const WG = 32u * SG;
const TM = 16u;          // tokens
#if SWIGLU
const OUT_ROWS = 16u;    // rows of y per workgroup: G's tile rows 0-15, U's 16-31
#else
const OUT_ROWS = 32u;
#endif
const BK = 64u;          // k per subgroup and stage
const SK = SG * BK;      // k per stage
const XS = SK + 8u;      // padded row stride (f16)

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

var<workgroup> xs: array<f16, TM * XS>;          // [token][k]
var<workgroup> part: array<f32, SG * 2u * 256u>; // [subgroup][accumulator][token][row]

const XR = TM * SK / 4u / WG;   // vec4s of x a thread fetches per stage
alias XRegs = array<vec4<f32>, XR>;

// x[.., k0 .. k0+SK), zero past T and K.
fn fetch(k0: u32, lid: u32) -> XRegs {
  var xr: XRegs;
  for (var j = 0u; j < XR; j++) {
    let i = lid + j * WG;
    let m = i / (SK / 4u);
    let k = k0 + 4u * (i % (SK / 4u));
    var v = vec4<f32>();
    if (m < p.T && k < p.K) { v = x[(m * p.K + k) / 4u]; }
    xr[j] = v;
  }
  return xr;
}

fn put(lid: u32, xr: XRegs) {
  for (var j = 0u; j < XR; j++) {
    let i = lid + j * WG;
    let at = i / (SK / 4u) * XS + 4u * (i % (SK / 4u));
    let h = vec4<f16>(xr[j]);
    xs[at] = h.x; xs[at + 1u] = h.y; xs[at + 2u] = h.z; xs[at + 3u] = h.w;
  }
}

// Wᵀ's 16 x 16 tile of rows row .. row+15 at k (a k past K reads K's last tile, which x's zeros cancel).
fn w_tile(row: u32, k: u32) -> Right {
  return subgroupMatrixLoad<Right, col_major>(&w, row * p.K + min(k, p.K - 16u), p.K);
}
#if SWIGLU
fn u_tile(row: u32, k: u32) -> Right {
  return subgroupMatrixLoad<Right, col_major>(&w2, row * p.K + min(k, p.K - 16u), p.K);
}
#endif

fn mma(a: Left, b: Right, c: Acc) -> Acc { return subgroupMatrixMultiplyAccumulate(a, b, c); }

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_id) sg: u32) {
  let r0 = (wid.x + wid.y * groups.x) * OUT_ROWS;
  if (r0 >= p.rows) { return; }  // the whole workgroup: a flat grid's spare workgroups
  let rb = min(r0, p.rows - OUT_ROWS);  // the tile's first row
  var c0 = Acc();  // tile rows 0-15 (G's with SWIGLU)
  var c1 = Acc();  // tile rows 16-31 (U's)
  var xr = fetch(0u, lid);
  for (var k0 = 0u; k0 < p.K; k0 += SK) {
    put(lid, xr);
    workgroupBarrier();
    if (k0 + SK < p.K) { xr = fetch(k0 + SK, lid); }
    for (var i = 0u; i < BK / 16u; i++) {  // uniform bounds: subgroup matrices need uniform control flow
      let kk = sg * BK + 16u * i;
      let a = subgroupMatrixLoad<Left, row_major>(&xs, kk, XS);
#if SWIGLU
      c0 = mma(a, w_tile(rb, k0 + kk), c0);
      c1 = mma(a, u_tile(rb, k0 + kk), c1);
#else
      c0 = mma(a, w_tile(rb, k0 + kk), c0);
      c1 = mma(a, w_tile(rb + 16u, k0 + kk), c1);
#endif
    }
    workgroupBarrier();
  }
  subgroupMatrixStore<row_major>(&part, sg * 512u, c0, 16u);
  subgroupMatrixStore<row_major>(&part, sg * 512u + 256u, c1, 16u);
  workgroupBarrier();
  // Output (t, rb + n) sums tile row n's accumulator over the subgroups (with SWIGLU, G's and U's).
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
    if (t < p.T && rb + n >= r0) { store(t, rb + n, g, u); }
  }
}
