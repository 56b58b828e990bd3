// matmul.wgsl for a decode batch of at most 16 tokens, on tensor cores (subgroup matrices, f16 x f16
// -> f32 at 16x16x16, subgroups of 32; needs the MMA, F16 and X_HALVES defines):
// y[t, n] (=, or += with ACCUMULATE) Σ_k x[t, k]·W[n, k] (+ bias[n] with BIAS); with SWIGLU,
// y = silu(x·Gᵀ) ⊙ (x·Uᵀ). Each weight is read once for all the tokens, as the matvec reads it for
// one; 16 tokens take 16 FLOP a weight byte, 69 TFLOP/s at 4.3 TB/s, past what f32 lanes do.
//
// x comes as halves.wgsl left it (f16, 16 rows of KP values, zero past T and K) straight from
// storage into matrix registers. A workgroup owns TN = 32 rows of W (with SWIGLU: 16 rows of G and
// the same 16 of U), which go through workgroup memory a stage of SK values of k at a time: 16-byte
// loads from storage (consecutive threads along a row), two stages ahead in registers; stages take
// the two halves of `ws` in turn, so one barrier a stage keeps them apart. Each of the SG subgroups
// multiplies 2 of a stage's 16 k-tiles into its own sums (x's tiles loaded a stage ahead), and the
// subgroups' sums meet in workgroup memory at the end, one accumulator at a time.
// Where the time goes (session 29, H100, a step's products at 16 tokens 11.45 ms, by builds with a
// part removed): without x's loads 9.32, without W's 8.38, without both 3.71, without barriers 9.17:
// the loads' latencies, not their bytes (W at 1.3 TB/s). Kept: W two stages ahead and x one (11.25),
// then two stages of workgroup memory with one barrier a stage (11.03 against 11.50). Dropped forms
// (docs/perf-notes.md, sessions 19, 22, 29): on an H100, W's tiles loaded straight from storage 15.33
// ms, the same with the next turn's tiles loaded first 17.24; on the H200 (session 22, timed by a
// sweep mode since found ~3x slow and removed: worth a second look), with x loaded after the
// barrier 12.69 ms (11.04 loaded first), 4 subgroups +46%, stages of 128 k +38%; on an H100, stages
// of 512 k +57%, x staged through workgroup memory 2x; 64 rows a workgroup 12.65 against 11.45
// (x's tiles serve twice the rows, half the workgroups), 20.5 with stages of 256 k; x one stage
// ahead alone 11.56; 23 KB more workgroup memory (48 KB) unchanged.
// The host guarantees K % 16 == 0, KP a multiple of SK, and at least TN rows (a last, partial tile
// is moved back to end at the last row, its rows before the tile's own left to the tile before; the
// first `skip` rows of the binding belong to the row range before, which writes them).

struct Params { T: u32, K: u32, N: u32, row0: u32, rows: u32, KP: u32, skip: u32 }

#include weight_product

const SG = 8u;
const WG = 32u * SG;
const TM = 16u;          // tokens (rows of x's tiles)
#if SWIGLU
const OUT_ROWS = 16u;    // rows of y per workgroup: G's tile rows 0-15, U's 16-31
#else
const OUT_ROWS = 32u;
#endif
const SK = 256u;               // k per stage: 16 tiles, 2 a subgroup
const WS = SK + 8u;            // padded row stride of a stage (f16)
const VPR = SK / 8u;           // 16-byte words of a row in a stage
const VPT = 32u * VPR / WG;    // words of the stage's 32 rows a thread loads

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;
alias WRegs = array<vec4<u32>, VPT>;

const HALF = 32u * WS;         // where the odd stages go in ws
var<workgroup> ws: array<f16, 2u * HALF>; // two stages of W: [row][k], rows 0-15 for c0, 16-31 for c1
var<workgroup> part: array<f32, SG * 256u>; // [subgroup][token][row]: one accumulator at a time

// A thread's words of W's stage at k0 (zero past K): word i of the stage is row i / VPR, k0 + 8 (i % VPR).
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

fn put_w(lid: u32, r: WRegs, at0: u32) {
  for (var j = 0u; j < VPT; j++) {
    let i = lid + j * WG;
    let at = at0 + (i / VPR) * WS + 8u * (i % VPR);
    for (var c = 0u; c < 4u; c++) {
      let h = bitcast<vec2<f16>>(r[j][c]);
      ws[at + 2u * c] = h.x;
      ws[at + 2u * c + 1u] = h.y;
    }
  }
}

// Subgroup sg's sums of the workgroup's tile rows from rb: c0 over rows 0-15 (G's with SWIGLU), c1
// over rows 16-31 (U's).
struct Sums { c0: Acc, c1: Acc }

// x's two tiles of a subgroup's share of a stage, at k and k + 16.
struct XTiles { a0: Left, a1: Left }
fn x_tiles(k: u32) -> XTiles {
  return XTiles(subgroupMatrixLoad<Left, row_major>(&x, k, p.KP), subgroupMatrixLoad<Left, row_major>(&x, k + 16u, p.KP));
}

fn mma2(c: Sums, a: Left, kt: u32) -> Sums {
  return Sums(subgroupMatrixMultiplyAccumulate(a, subgroupMatrixLoad<Right, col_major>(&ws, kt, WS), c.c0),
              subgroupMatrixMultiplyAccumulate(a, subgroupMatrixLoad<Right, col_major>(&ws, 16u * WS + kt, WS), c.c1));
}

fn multiply(c0: Sums, a: XTiles, kt: u32) -> Sums {
  var c = mma2(c0, a.a0, kt);
  c = mma2(c, a.a1, kt + 16u);
  return c;
}

// The two halves of ws take even and odd stages: a half is stored again only after every subgroup
// passed the next stage's barrier, so after it multiplied the half's last stage. W's registers: r0
// even stages, r1 odd (fetch_w gives zeros past K without loading); x past the end: the last stage's.
fn sums(rb: u32, sg: u32, lid: u32) -> Sums {
  var c = Sums(Acc(), Acc());
  let kt = sg * (SK / SG);
  let last = p.KP - SK;
  var r0 = fetch_w(rb, 0u, lid);
  var r1 = fetch_w(rb, SK, lid);
  var a = x_tiles(kt);
  for (var k0 = 0u; k0 < p.KP; k0 += 2u * SK) {  // uniform bounds: subgroup matrices need uniform control flow
    put_w(lid, r0, 0u);
    workgroupBarrier();
    r0 = fetch_w(rb, k0 + 2u * SK, lid);
    let odd = x_tiles(min(k0 + SK, last) + kt);
    c = multiply(c, a, kt);
    if (k0 + SK < p.KP) {
      put_w(lid, r1, HALF);
      workgroupBarrier();
      r1 = fetch_w(rb, k0 + 3u * SK, lid);
      a = x_tiles(min(k0 + 2u * SK, last) + kt);
      c = multiply(c, odd, HALF + kt);
    }
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
  // The subgroups' sums meet in workgroup memory one accumulator at a time (half the memory).
  subgroupMatrixStore<row_major>(&part, sg * 256u, c.c0, 16u);
  workgroupBarrier();
  let first = gather(lid);
  workgroupBarrier();
  subgroupMatrixStore<row_major>(&part, sg * 256u, c.c1, 16u);
  workgroupBarrier();
  let second = gather(lid);
  // Output (t, rb + n): with SWIGLU, G's sum (first) and U's (second) for n < 16; else tile row n of
  // c0 (first) or, for n >= 16, of c1 (second).
  for (var j = 0u; j < OUTS; j++) {
    let e = lid + j * WG;
    let t = e / OUT_ROWS;
    let n = e % OUT_ROWS;
#if SWIGLU
    let g = first[j];
    let u = second[j];
#else
    let g = select(first[j], second[j], n >= 16u);
    let u = 0.0;
#endif
    if (t < p.T && rb + n >= max(r0, p.skip)) { store(t, rb + n, g, u); }
  }
}

const OUTS = TM * OUT_ROWS / WG;  // outputs a thread writes

// Thread lid's outputs' sums over the subgroups of the accumulator in `part`: output e's row n % 16.
fn gather(lid: u32) -> array<f32, OUTS> {
  var v: array<f32, OUTS>;
  for (var j = 0u; j < OUTS; j++) {
    let e = lid + j * WG;
    let at = (e / OUT_ROWS) * 16u + e % 16u;
    var g = 0.0;
    for (var s = 0u; s < SG; s++) { g += part[s * 256u + at]; }
    v[j] = g;
  }
  return v;
}
