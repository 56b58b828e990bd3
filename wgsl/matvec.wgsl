// Matrix-vector product for decode (TOKENS ≤ 8): y[t, n] (=, or += with ACCUMULATE) Σ_k x[t, k]·W[n, k]
// (+ bias[n] with BIAS); with SWIGLU, y = silu(x·Gᵀ) ⊙ (x·Uᵀ) for G = w, U = w2. With NORM the
// input is RMSNorm(x) · norm_w (HF): x·norm_w goes into the dot products, Σ x² into one more sum,
// and rsqrt(mean(x²) + eps) scales the results, so no normalised copy of x is written and read.
// Memory-bound: each weight byte is read once, 8 f16 per load. A workgroup owns ROWS rows; its
// threads stride over k together (coalesced loads, UNROLL blocks of them loaded before use) keeping
// ROWS × TOKENS partial sums, which are reduced across the workgroup at the end. W is bound from row row0 (a weight larger than one binding
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

// Adds row r's products at column block c (8 values of k): g (and u with SWIGLU) are its weights there.
fn accumulate(c: u32, r: u32, g8: vec4<u32>, u8: vec4<u32>) {
  let count = ROWS * TOKENS;
  let g = unpack8(g8);
#if SWIGLU
  let u = unpack8(u8);
#endif
#if NORM
  let nw = unpack8(norm_w[c]);
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

fn weight(row: u32, c: u32) -> vec4<u32> { return w[row * p.K8 + c]; }
fn weight2(row: u32, c: u32) -> vec4<u32> {
#if SWIGLU
  return w2[row * p.K8 + c];
#else
  return vec4<u32>();
#endif
}

// UNROLL column blocks a thread loads before it computes on them: ROWS × UNROLL (× 2 with SWIGLU)
// loads in flight, the memory-level parallelism the bandwidth needs when the grid is small.
override UNROLL: u32 = 1; // ROWS × UNROLL ≤ 16
var<private> gw: array<vec4<u32>, 16>;
var<private> uw: array<vec4<u32>, 16>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, th: Thread) {
  let first = (wid.x + wid.y * groups.x) * ROWS;
  if (first >= p.rows) { return; }
  let count = ROWS * TOKENS;
  var c = th.lid;
  for (; c + (UNROLL - 1u) * WG < p.K8; c += UNROLL * WG) {
    for (var i = 0u; i < UNROLL; i++) {
      for (var r = 0u; r < ROWS; r++) {
        let row = min(first + r, p.rows - 1u); // rows past the end repeat the last one, unused
        gw[i * ROWS + r] = weight(row, c + i * WG);
        uw[i * ROWS + r] = weight2(row, c + i * WG);
      }
    }
    for (var i = 0u; i < UNROLL; i++) {
      for (var r = 0u; r < ROWS; r++) { accumulate(c + i * WG, r, gw[i * ROWS + r], uw[i * ROWS + r]); }
    }
  }
  for (; c < p.K8; c += WG) {
    for (var r = 0u; r < ROWS; r++) {
      let row = min(first + r, p.rows - 1u);
      accumulate(c, r, weight(row, c), weight2(row, c));
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
