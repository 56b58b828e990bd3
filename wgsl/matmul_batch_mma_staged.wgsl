// matmul_batch_mma.wgsl with W staged through workgroup memory (an experiment beside it: the same
// product, W bound as 16-byte words, without W_HALVES): see docs/perf-notes.md.
struct Params { T: u32, K: u32, N: u32, row0: u32, rows: u32, KP: u32, skip: u32 }

#include weight_product

#include batch_mma

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
