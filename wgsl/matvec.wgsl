// Matrix-vector product for decode (TOKENS ≤ 8): y[t, n] (=, or += with ACCUMULATE) Σ_k x[t, k]·W[n, k]
// (+ bias[n] with BIAS); with SWIGLU, y = silu(x·Gᵀ) ⊙ (x·Uᵀ) for G = w, U = w2. With NORM the
// input is RMSNorm(x) · norm_w (HF): x·norm_w goes into the dot products, Σ x² into one more sum,
// and rsqrt(mean(x²) + eps) scales the results, so no normalised copy of x is written and read.
// W is f16 (F16W), or int8 (Q8) or 4-bit (Q4) blocks of 32 with f16 scales (and offsets), bound at
// 6 and 7: the include of the format (matvec_f16, matvec_q8, matvec_q4) says how a load's values
// and its block's scale meet x.
// Memory-bound: each weight byte is read once, 16 bytes per load (a column block: 8 f16, 16 int8
// or 32 4-bit values). A workgroup owns ROWS rows; its threads stride over the column blocks together
// (coalesced loads, UNROLL blocks of them loaded before use) keeping ROWS × TOKENS partial sums,
// which are reduced across the workgroup at the end. W is bound from row row0 (a weight larger
// than one binding comes in row ranges); y and bias are indexed by the absolute row.

struct Params { KB: u32, N: u32, row0: u32, rows: u32, eps: f32 } // KB = K / BLOCK

#include weight_product
#if NORM
@group(0) @binding(5) var<storage, read> norm_w: array<vec2<u32>>; // f16 [K]
#endif
#if QUANT
@group(0) @binding(6) var<storage, read> ws: array<u32>; // f16 scales (and offsets) of w's blocks
#endif
#if QUANT_SWIGLU
@group(0) @binding(7) var<storage, read> ws2: array<u32>; // of w2
#endif
#if F16W
#include matvec_f16
#endif
#if Q8
#include q8
#endif
#if Q8
#include matvec_q8
#endif
#if Q4
#include q4
#endif
#if Q4
#include matvec_q4
#endif
const XV = BLOCK / 4u; // vec4s of x a column block spans

override WG: u32 = 128; // a power of two
override ROWS: u32 = 4;
override TOKENS: u32 = 1; // ROWS × TOKENS ≤ WG (a thread stores each sum)
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
const SUMS = 40u; // ≥ PRODUCTS × ROWS × TOKENS + NORM_SUMS × TOKENS (MATVEC_SUMS in src/ops/dense.ts)

#include thread
#include reduce
var<private> acc: array<f32, SUMS>; // [product][row][token]
#include reduce_many

// One token's x over the column block in use, read once for all rows (the format's product reads it).
var<private> xs: array<vec4<f32>, XV>;

// Adds every row's products at column block c, whose weights and scales are at i·ROWS + r of
// gw, uw, gd and ud.
fn accumulate(c: u32, i: u32) {
  let count = ROWS * TOKENS;
  for (var t = 0u; t < TOKENS; t++) {
    var sq = 0.0;
    for (var j = 0u; j < XV; j++) {
      var xj = x[XV * (t * p.KB + c) + j];
#if NORM
      sq += dot(xj, xj);
      let nw = norm_w[XV * c + j];
      xj *= vec4(unpack_h2(nw.x), unpack_h2(nw.y));
#endif
      xs[j] = xj;
    }
#if NORM
    acc[PRODUCTS * count + t] += sq;
#endif
    quantize_x();
    for (var r = 0u; r < ROWS; r++) {
      let at = i * ROWS + r;
      acc[r * TOKENS + t] += product(gw[at], gd[at]);
#if SWIGLU
      acc[count + r * TOKENS + t] += product(uw[at], ud[at]);
#endif
    }
  }
}

// UNROLL column blocks a thread loads before it computes on them: ROWS × UNROLL (× 2 with SWIGLU)
// loads in flight, the memory-level parallelism the bandwidth needs when the grid is small.
override UNROLL: u32 = 1; // ROWS × UNROLL ≤ 16
var<private> gw: array<vec4<u32>, 16>;
var<private> uw: array<vec4<u32>, 16>;
var<private> gd: array<vec2<f32>, 16>; // their blocks' scale and offset (the format's scale())
var<private> ud: array<vec2<f32>, 16>;

// Loads row's weights (and scales) at column block c into slot `at`.
fn load(at: u32, row: u32, c: u32) {
  gw[at] = w[row * p.KB + c];
#if SWIGLU
  uw[at] = w2[row * p.KB + c];
#endif
#if QUANT
  gd[at] = scale(&ws, row, c);
#endif
#if QUANT_SWIGLU
  ud[at] = scale(&ws2, row, c);
#endif
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, th: Thread) {
  let first = (wid.x + wid.y * groups.x) * ROWS;
  if (first >= p.rows) { return; }
  let count = ROWS * TOKENS;
  var c = th.lid;
  for (; c + (UNROLL - 1u) * WG < p.KB; c += UNROLL * WG) {
    for (var i = 0u; i < UNROLL; i++) {
      for (var r = 0u; r < ROWS; r++) {
        load(i * ROWS + r, min(first + r, p.rows - 1u), c + i * WG); // rows past the end repeat the last one, unused
      }
    }
    for (var i = 0u; i < UNROLL; i++) { accumulate(c + i * WG, i); }
  }
  for (; c < p.KB; c += WG) {
    for (var r = 0u; r < ROWS; r++) { load(r, min(first + r, p.rows - 1u), c); }
    accumulate(c, 0u);
  }
  wg_sums(PRODUCTS * count + NORM_SUMS * TOKENS, th);
  let r = th.lid / TOKENS;
  let t = th.lid % TOKENS;
  if (th.lid < count && first + r < p.rows) {
    var norm = 1.0;
#if NORM
    norm = inverseSqrt(sums[PRODUCTS * count + t] / f32(BLOCK * p.KB) + p.eps);
#endif
    store(t, first + r, sums[th.lid] * norm, sums[(PRODUCTS - 1u) * count + th.lid] * norm);
  }
}
