// matmul_batch_mma.wgsl with W staged through workgroup memory (an experiment beside it: the same
// product, W bound as 16-byte words, without W_HALVES): see docs/perf-notes.md.
struct Params { T: u32, K: u32, N: u32, row0: u32, rows: u32, KP: u32, skip: u32 }

#include weight_product

const SG = 8u;
const WG = 32u * SG;
const KS = 64u;          // k per subgroup and turn: 4 tiles of 16
const TM = 16u;          // tokens (rows of x's tiles)
#if SWIGLU
const OUT_ROWS = 16u;    // rows of y per workgroup: G's tile rows 0-15, U's 16-31
#else
const OUT_ROWS = 32u;
#endif

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

var<workgroup> part: array<f32, SG * 512u>; // [subgroup][accumulator][token][row]

// x's 16 x 16 tile at k.
fn x_tile(k: u32) -> Left {
  return subgroupMatrixLoad<Left, row_major>(&x, k, p.KP);
}

fn mma(a: Left, b: Right, c: Acc) -> Acc { return subgroupMatrixMultiplyAccumulate(a, b, c); }

// The two accumulators: tile rows 0-15 (G's with SWIGLU) and 16-31 (U's).
struct Sums { c0: Acc, c1: Acc }

// W's rows through workgroup memory, a stage of SK values of k at a time: 16-byte loads from storage
// (thread t: words t, t + WG, ... of the stage, consecutive threads along a row), the next stage's
// in flight while this one is multiplied; each subgroup multiplies 2 of a stage's 16 k-tiles.
const SK = 256u;
const WS = SK + 8u;             // padded row stride (f16)
const VPR = SK / 8u;            // 16-byte words of a row in a stage
const VPT = 32u * VPR / WG;     // of the stage's 32 rows, per thread
var<workgroup> ws: array<f16, 32u * WS>; // [row][k]: rows 0-15 for c0, 16-31 for c1
alias WRegs = array<vec4<u32>, VPT>;

fn fetch_w(rb: u32, k0: u32, lid: u32) -> WRegs {
  var r: WRegs;
  for (var j = 0u; j < VPT; j++) {
    let i = lid + j * WG;
    let row = i / VPR;
    let k = k0 + 8u * (i % VPR);
    var v = vec4<u32>();
    if (k < p.K) {
#if SWIGLU
      if (row < 16u) { v = w[((rb + row) * p.K + k) / 8u]; } else { v = w2[((rb + row - 16u) * p.K + k) / 8u]; }
#else
      v = w[((rb + row) * p.K + k) / 8u];
#endif
    }
    r[j] = v;
  }
  return r;
}

fn put_w(lid: u32, r: WRegs) {
  for (var j = 0u; j < VPT; j++) {
    let i = lid + j * WG;
    let at = (i / VPR) * WS + 8u * (i % VPR);
    for (var c = 0u; c < 4u; c++) {
      let h = bitcast<vec2<f16>>(r[j][c]);
      ws[at + 2u * c] = h.x;
      ws[at + 2u * c + 1u] = h.y;
    }
  }
}

fn sums(rb: u32, sg: u32, lid: u32) -> Sums {
  var c = Sums(Acc(), Acc());
  var r = fetch_w(rb, 0u, lid);
  for (var k0 = 0u; k0 < p.KP; k0 += SK) {
    put_w(lid, r);
    workgroupBarrier();
    if (k0 + SK < p.KP) { r = fetch_w(rb, k0 + SK, lid); }
    for (var i = 0u; i < 2u; i++) {
      let kt = 32u * sg + 16u * i;
      let a = x_tile(k0 + kt);
      c.c0 = mma(a, subgroupMatrixLoad<Right, col_major>(&ws, kt, WS), c.c0);
      c.c1 = mma(a, subgroupMatrixLoad<Right, col_major>(&ws, 16u * WS + kt, WS), c.c1);
    }
    workgroupBarrier();
  }
  return c;
}
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_id) sg: u32) {
  let r0 = (wid.x + wid.y * groups.x) * OUT_ROWS;
  if (r0 >= p.rows) { return; }  // the whole workgroup: a flat grid's spare workgroups
  let rb = min(r0, p.rows - OUT_ROWS);  // the tile's first row
  let c = sums(rb, sg, lid);
  let c0 = c.c0;
  let c1 = c.c1;
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
    if (t < p.T && rb + n >= max(r0, p.skip)) { store(t, rb + n, g, u); }
  }
}
