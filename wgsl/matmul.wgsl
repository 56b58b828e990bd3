// Tiled matrix product for prefill: y[t, n] (=, or += with ACCUMULATE) Σ_k x[t, k]·W[n, k]
// (+ bias[n] with BIAS); with SWIGLU, y = silu(x·Gᵀ) ⊙ (x·Uᵀ) for G = w, U = w2.
// Compute-bound: a 16×16 workgroup computes a 64-token × 64-row tile of y, 4 × 4 outputs per thread,
// staging BK-wide slices of x and W in workgroup memory as f32, k-major, so that a thread reads its
// 4 tokens (or 4 rows) for one k as one vec4. W is bound from row row0 (a weight larger than one
// binding comes in row ranges); y and bias are indexed by the absolute row.

struct Params { T: u32, K: u32, N: u32, row0: u32, rows: u32 }

#include weight_product

const TILE = 64u; // tokens and rows per workgroup
const SIDE = 16u; // threads per side: TILE / 4
const BK = 32u;   // k per stage, a multiple of 8
alias Tile = array<vec4<f32>, BK * SIDE>; // [k][TILE / 4] vec4

var<workgroup> xs: Tile;
var<workgroup> gs: Tile;
#if SWIGLU
var<workgroup> us: Tile;
#endif

fn put(tile: ptr<workgroup, Tile>, k: u32, i: u32, v: f32) {
  (*tile)[k * SIDE + i / 4u][i % 4u] = v;
}

// Row n, k = k0 + 8·k8 … +7 of W (zero past the edges) into column n of a tile.
fn put_w8(tile: ptr<workgroup, Tile>, n: u32, k8: u32, v: vec4<u32>) {
  for (var q = 0u; q < 4u; q++) {
    let h = unpack_h2(v[q]);
    put(tile, 8u * k8 + 2u * q, n, h.x);
    put(tile, 8u * k8 + 2u * q + 1u, n, h.y);
  }
}

fn load_stage(m0: u32, n0: u32, k0: u32, lid: u32) {
  // Consecutive threads read consecutive k of one token / row: coalesced.
  for (var i = lid; i < TILE * BK / 4u; i += SIDE * SIDE) {
    let m = i / (BK / 4u);
    let k = 4u * (i % (BK / 4u));
    var v = vec4<f32>();
    if (m0 + m < p.T && k0 + k < p.K) { v = x[((m0 + m) * p.K + k0 + k) / 4u]; }
    for (var q = 0u; q < 4u; q++) { put(&xs, k + q, m, v[q]); }
  }
  for (var i = lid; i < TILE * BK / 8u; i += SIDE * SIDE) {
    let n = i / (BK / 8u);
    let k8 = i % (BK / 8u);
    let inside = n0 + n < p.rows && k0 + 8u * k8 < p.K;
    let at = ((n0 + n) * p.K + k0) / 8u + k8;
    var g = vec4<u32>();
    if (inside) { g = w[at]; }
    put_w8(&gs, n, k8, g);
#if SWIGLU
    var u = vec4<u32>();
    if (inside) { u = w2[at]; }
    put_w8(&us, n, k8, u);
#endif
  }
}


@compute @workgroup_size(SIDE, SIDE)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let n0 = wid.x * TILE;
  let m0 = wid.y * TILE;
  var acc: array<vec4<f32>, 4>; // acc[i][j]: token m0 + 4·l.y + i, row n0 + 4·l.x + j
#if SWIGLU
  var acc_u: array<vec4<f32>, 4>;
#endif
  for (var k0 = 0u; k0 < p.K; k0 += BK) {
    load_stage(m0, n0, k0, lid);
    workgroupBarrier();
    for (var k = 0u; k < BK; k++) {
      let a = xs[k * SIDE + l.y];
      let g = gs[k * SIDE + l.x];
#if SWIGLU
      let u = us[k * SIDE + l.x];
#endif
      for (var i = 0u; i < 4u; i++) {
        acc[i] += a[i] * g;
#if SWIGLU
        acc_u[i] += a[i] * u;
#endif
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let t = m0 + 4u * l.y + i;
    for (var j = 0u; j < 4u; j++) {
      let n = n0 + 4u * l.x + j;
      if (t < p.T && n < p.rows) {
#if SWIGLU
        store(t, n, acc[i][j], acc_u[i][j]);
#else
        store(t, n, acc[i][j], 0.0);
#endif
      }
    }
  }
}
