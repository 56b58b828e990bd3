// Matrix-vector product for decode (TOKENS ≤ 8) with subgroups: y[t, n] (=, or += with ACCUMULATE)
// Σ_k x[t, k]·W[n, k] (+ bias[n] with BIAS); with SWIGLU, y = silu(x·Gᵀ) ⊙ (x·Uᵀ), G = w, U = w2.
// Memory-bound: each weight byte is read once, 8 f16 per load. A workgroup owns ROWS rows and each
// of its subgroups takes RPS of them at a time: its lanes stride over k (coalesced loads, RPS rows
// in flight) and one subgroupAdd per sum finishes a row: no workgroup memory, no barrier.
// W is bound from row row0 (a weight larger than one binding comes in row ranges); y and bias are
// indexed by the absolute row.

#include matvec_io

override WG: u32 = 256;
override ROWS: u32 = 16;
const RPS = 2u;             // rows per subgroup at a time: RPS × TOKENS × PRODUCTS ≤ MAX_SUMS
const MAX_SUMS = 32u;

#include thread

var<private> acc: array<f32, MAX_SUMS>; // [product][row][token]

// A subgroup's rows depend on its index: uniform within the subgroup, which WGSL cannot see.
@diagnostic(off, subgroup_uniformity)
@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, th: Thread) {
  let first = (wid.x + wid.y * groups.x) * ROWS;
  let subgroups = WG / th.sg_size;
  let sg = th.lid / th.sg_size;
  let count = RPS * TOKENS;
  for (var r0 = first + sg * RPS; r0 < min(first + ROWS, p.rows); r0 += subgroups * RPS) {
    for (var v = 0u; v < PRODUCTS * count; v++) { acc[v] = 0.0; }
    for (var c = th.sg_lane; c < p.K8; c += th.sg_size) {
      for (var r = 0u; r < RPS; r++) {
        let row = min(r0 + r, p.rows - 1u); // rows past the end repeat the last one, unused
        let g = unpack8(w[row * p.K8 + c]);
#if SWIGLU
        let u = unpack8(w2[row * p.K8 + c]);
#endif
        for (var t = 0u; t < TOKENS; t++) {
          let xa = x[2u * (t * p.K8 + c)];
          let xb = x[2u * (t * p.K8 + c) + 1u];
          acc[r * TOKENS + t] += dot(g[0], xa) + dot(g[1], xb);
#if SWIGLU
          acc[count + r * TOKENS + t] += dot(u[0], xa) + dot(u[1], xb);
#endif
        }
      }
    }
    for (var v = 0u; v < count; v++) {
      let g = subgroupAdd(acc[v]);
      let u = subgroupAdd(acc[(PRODUCTS - 1u) * count + v]);
      let row = r0 + v / TOKENS;
      if (th.sg_lane == 0u && row < p.rows) { store(v % TOKENS, row, g, u); }
    }
  }
}
