// Matrix-vector product for decode (TOKENS ≤ 8) on devices without subgroups (matvec_subgroup is the
// one for those with): y[t, n] (=, or += with ACCUMULATE) Σ_k x[t, k]·W[n, k] (+ bias[n] with
// BIAS); with SWIGLU, y = silu(x·Gᵀ) ⊙ (x·Uᵀ) for G = w, U = w2.
// Memory-bound: each weight byte is read once, 8 f16 per load. A workgroup owns ROWS rows; its
// threads stride over k together (coalesced loads) keeping ROWS × TOKENS partial sums, which are
// reduced across the workgroup (a tree in workgroup memory) at the end. W is bound from row row0
// (a weight larger than one binding comes in row ranges); y and bias are indexed by the absolute row.

#include matvec_io

override WG: u32 = 128; // a power of two
override ROWS: u32 = 4;  // ROWS × TOKENS ≤ 16
const MAX_SUMS = 32u;

var<private> acc: array<f32, MAX_SUMS>; // [product][row][token]
var<workgroup> sums: array<f32, MAX_SUMS>;
var<workgroup> red: array<f32, WG>;

// sums[v] = Σ over the workgroup of acc[v], for v < count.
fn reduce(count: u32, lid: u32) {
  for (var v = 0u; v < count; v++) {
    workgroupBarrier(); // the previous round has read red
    red[lid] = acc[v];
    for (var s = WG / 2u; s > 0u; s /= 2u) {
      workgroupBarrier();
      if (lid < s) { red[lid] += red[lid + s]; }
    }
    if (lid == 0u) { sums[v] = red[0]; }
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let first = (wid.x + wid.y * groups.x) * ROWS;
  if (first >= p.rows) { return; }
  let count = ROWS * TOKENS;
  for (var c = lid; c < p.K8; c += WG) {
    for (var r = 0u; r < ROWS; r++) {
      let row = min(first + r, p.rows - 1u); // rows past the end repeat the last one, unused
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
  reduce(PRODUCTS * count, lid);
  let r = lid / TOKENS;
  if (lid < count && first + r < p.rows) {
    store(lid % TOKENS, first + r, sums[lid], sums[(PRODUCTS - 1u) * count + lid]);
  }
}
