// Matrix-vector product for decode (TOKENS ≤ 8): y[t, n] (=, or += with ACCUMULATE) Σ_k x[t, k]·W[n, k]
// (+ bias[n] with BIAS); with SWIGLU, y = silu(x·Gᵀ) ⊙ (x·Uᵀ) for G = w, U = w2. With NORM the
// input is RMSNorm(x) · norm_w (HF): x·norm_w goes into the dot products, Σ x² into one more sum,
// and rsqrt(mean(x²) + eps) scales the results, so no normalised copy of x is written and read.
// Memory-bound: each weight byte is read once, 8 f16 per load. A workgroup owns ROWS rows; its
// threads stride over k together (coalesced loads) keeping ROWS × TOKENS partial sums, which are
// reduced across the workgroup at the end. W is bound from row row0 (a weight larger than one binding
// comes in row ranges); y and bias are indexed by the absolute row.

struct Params { K8: u32, N: u32, row0: u32, rows: u32, eps: f32 } // K8 = K / 8

#include weight_product
#if NORM
@group(0) @binding(5) var<storage, read> norm_w: array<vec4<u32>>; // f16 [K]
#endif

override WG: u32 = 128; // a power of two
override ROWS: u32 = 4;
override TOKENS: u32 = 1; // ROWS × TOKENS ≤ 16
#if SWIGLU
const PRODUCTS = 2u; // gate and up
#else
const PRODUCTS = 1u;
#endif
#if NORM
const NORM_SUMS = 1u; // Σ x² per token
#else
const NORM_SUMS = 0u;
#endif
const SUMS = 40u; // PRODUCTS × ROWS × TOKENS + NORM_SUMS × TOKENS

#include thread
#include reduce
var<private> acc: array<f32, SUMS>; // [product][row][token]
#include reduce_many

fn unpack8(v: vec4<u32>) -> array<vec4<f32>, 2> {
  return array(vec4(unpack_h2(v.x), unpack_h2(v.y)), vec4(unpack_h2(v.z), unpack_h2(v.w)));
}


@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, th: Thread) {
  let first = (wid.x + wid.y * groups.x) * ROWS;
  if (first >= p.rows) { return; }
  let count = ROWS * TOKENS;
  for (var c = th.lid; c < p.K8; c += WG) {
#if NORM
    let nw = unpack8(norm_w[c]);
#endif
    for (var r = 0u; r < ROWS; r++) {
      let row = min(first + r, p.rows - 1u); // rows past the end repeat the last one, unused
      let g = unpack8(w[row * p.K8 + c]);
#if SWIGLU
      let u = unpack8(w2[row * p.K8 + c]);
#endif
      for (var t = 0u; t < TOKENS; t++) {
        var xa = x[2u * (t * p.K8 + c)];
        var xb = x[2u * (t * p.K8 + c) + 1u];
#if NORM
        if (r == 0u) { acc[PRODUCTS * count + t] += dot(xa, xa) + dot(xb, xb); }
        xa *= nw[0];
        xb *= nw[1];
#endif
        acc[r * TOKENS + t] += dot(g[0], xa) + dot(g[1], xb);
#if SWIGLU
        acc[count + r * TOKENS + t] += dot(u[0], xa) + dot(u[1], xb);
#endif
      }
    }
  }
  wg_sums(PRODUCTS * count + NORM_SUMS * TOKENS, th);
  let r = th.lid / TOKENS;
  let t = th.lid % TOKENS;
  if (th.lid < count && first + r < p.rows) {
    var scale = 1.0;
#if NORM
    scale = inverseSqrt(sums[PRODUCTS * count + t] / f32(8u * p.K8) + p.eps);
#endif
    store(t, first + r, sums[th.lid] * scale, sums[(PRODUCTS - 1u) * count + th.lid] * scale);
  }
}
