// Matrix-vector product for decode (TOKENS ≤ 8): y[t, n] (=, or += with ACCUMULATE) Σ_k x[t, k]·W[n, k]
// (+ bias[n] with BIAS); with SWIGLU, y = silu(x·Gᵀ) ⊙ (x·Uᵀ) for G = w, U = w2. With NORM the
// input is RMSNorm(x) · norm_w (HF): x·norm_w goes into the dot products, Σ x² into one more sum,
// and rsqrt(mean(x²) + eps) scales the results, so no normalised copy of x is written and read.
// W is f16, or with Q8 int8 blocks with f16 scales (include/q8.wgsl, the scales bound at 6 and 7).
// Memory-bound: each weight byte is read once, 16 bytes per load (8 f16 or 16 int8 values: a
// column block). A workgroup owns ROWS rows; its threads stride over the column blocks together
// (coalesced loads, UNROLL blocks of them loaded before use) keeping ROWS × TOKENS partial sums,
// which are reduced across the workgroup at the end. W is bound from row row0 (a weight larger
// than one binding comes in row ranges); y and bias are indexed by the absolute row.

struct Params { KB: u32, N: u32, row0: u32, rows: u32, eps: f32 } // KB = K / BLOCK

#include weight_product
#if NORM
@group(0) @binding(5) var<storage, read> norm_w: array<vec2<u32>>; // f16 [K]
#endif
#if Q8
@group(0) @binding(6) var<storage, read> ws: array<u32>; // f16 scales of w [rows, K / 32]
#endif
#if Q8_SWIGLU
@group(0) @binding(7) var<storage, read> ws2: array<u32>; // of w2
#endif
#if Q8
#include q8
const BLOCK = 16u;
#else
const BLOCK = 8u;
#endif
const XV = BLOCK / 4u; // vec4s of x a column block spans

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

// The values of a column block's load, unscaled.
fn widen(v: vec4<u32>) -> array<vec4<f32>, XV> {
#if Q8
  return array(i8x4(v.x), i8x4(v.y), i8x4(v.z), i8x4(v.w));
#else
  return array(vec4(unpack_h2(v.x), unpack_h2(v.y)), vec4(unpack_h2(v.z), unpack_h2(v.w)));
#endif
}

// Adds row r's products at column block c: g (and u with SWIGLU) are its weights there, gs and us
// their scales (1 for f16).
fn accumulate(c: u32, r: u32, g8: vec4<u32>, u8: vec4<u32>, gs: f32, us: f32) {
  let count = ROWS * TOKENS;
  let g = widen(g8);
#if SWIGLU
  let u = widen(u8);
#endif
  for (var t = 0u; t < TOKENS; t++) {
    var dg = 0.0;
    var du = 0.0;
    var sq = 0.0;
    for (var j = 0u; j < XV; j++) {
      var xj = x[XV * (t * p.KB + c) + j];
#if NORM
      sq += dot(xj, xj);
      let nw = norm_w[XV * c + j];
      xj *= vec4(unpack_h2(nw.x), unpack_h2(nw.y));
#endif
      dg += dot(g[j], xj);
#if SWIGLU
      du += dot(u[j], xj);
#endif
    }
#if NORM
    if (r == 0u) { acc[PRODUCTS * count + t] += sq; }
#endif
    acc[r * TOKENS + t] += dg * gs;
#if SWIGLU
    acc[count + r * TOKENS + t] += du * us;
#endif
  }
}

fn weight(row: u32, c: u32) -> vec4<u32> { return w[row * p.KB + c]; }
fn weight2(row: u32, c: u32) -> vec4<u32> {
#if SWIGLU
  return w2[row * p.KB + c];
#else
  return vec4<u32>();
#endif
}

// The scale of column block c of a row (two blocks share one of 32 values).
fn scale(row: u32, c: u32) -> f32 {
#if Q8
  let b = row * (p.KB / 2u) + c / 2u;
  return unpack_h2(ws[b / 2u])[b % 2u];
#else
  return 1.0;
#endif
}
fn scale2(row: u32, c: u32) -> f32 {
#if Q8_SWIGLU
  let b = row * (p.KB / 2u) + c / 2u;
  return unpack_h2(ws2[b / 2u])[b % 2u];
#else
  return 1.0;
#endif
}

// UNROLL column blocks a thread loads before it computes on them: ROWS × UNROLL (× 2 with SWIGLU)
// loads in flight, the memory-level parallelism the bandwidth needs when the grid is small.
override UNROLL: u32 = 1; // ROWS × UNROLL ≤ 16
var<private> gw: array<vec4<u32>, 16>;
var<private> uw: array<vec4<u32>, 16>;
var<private> gd: array<f32, 16>; // their scales
var<private> ud: array<f32, 16>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, th: Thread) {
  let first = (wid.x + wid.y * groups.x) * ROWS;
  if (first >= p.rows) { return; }
  let count = ROWS * TOKENS;
  var c = th.lid;
  for (; c + (UNROLL - 1u) * WG < p.KB; c += UNROLL * WG) {
    for (var i = 0u; i < UNROLL; i++) {
      for (var r = 0u; r < ROWS; r++) {
        let row = min(first + r, p.rows - 1u); // rows past the end repeat the last one, unused
        let at = i * ROWS + r;
        gw[at] = weight(row, c + i * WG);
        uw[at] = weight2(row, c + i * WG);
        gd[at] = scale(row, c + i * WG);
        ud[at] = scale2(row, c + i * WG);
      }
    }
    for (var i = 0u; i < UNROLL; i++) {
      for (var r = 0u; r < ROWS; r++) {
        let at = i * ROWS + r;
        accumulate(c + i * WG, r, gw[at], uw[at], gd[at], ud[at]);
      }
    }
  }
  for (; c < p.KB; c += WG) {
    for (var r = 0u; r < ROWS; r++) {
      let row = min(first + r, p.rows - 1u);
      accumulate(c, r, weight(row, c), weight2(row, c), scale(row, c), scale2(row, c));
    }
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
