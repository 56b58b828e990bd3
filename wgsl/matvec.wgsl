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

// One token's x over the column block in use, read once for all rows: as f32 values, and with
// DOT4 as int8 values xq times one scale xd (quantized here, per block of 16, as llama.cpp's MMVQ
// quantizes activations per block of 32), for packed int8 dot products with Q8 weights.
var<private> xs: array<vec4<f32>, XV>;
var<private> xq: vec4<u32>;
var<private> xd: f32;

fn quantize_x() {
#if DOT4
  let m = max(max(abs(xs[0]), abs(xs[1])), max(abs(xs[2]), abs(xs[3])));
  xd = max(max(m.x, m.y), max(m.z, m.w)) / 127.0;
  let inv = select(0.0, 1.0 / xd, xd > 0.0);
  xq = vec4(pack4xI8(vec4<i32>(round(xs[0] * inv))), pack4xI8(vec4<i32>(round(xs[1] * inv))),
            pack4xI8(vec4<i32>(round(xs[2] * inv))), pack4xI8(vec4<i32>(round(xs[3] * inv))));
#endif
}

// Σ over the column block of weights w times the token's x, unscaled by w's scale.
fn product(w: vec4<u32>) -> f32 {
#if DOT4
  return f32(dot4I8Packed(w.x, xq.x) + dot4I8Packed(w.y, xq.y) + dot4I8Packed(w.z, xq.z) + dot4I8Packed(w.w, xq.w)) * xd;
#else
  let g = widen(w);
  var s = 0.0;
  for (var j = 0u; j < XV; j++) { s += dot(g[j], xs[j]); }
  return s;
#endif
}

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
      acc[r * TOKENS + t] += product(gw[at]) * gd[at];
#if SWIGLU
      acc[count + r * TOKENS + t] += product(uw[at]) * ud[at];
#endif
    }
  }
}

// The scale of column block c of a row (two blocks share one of 32 values).
fn scale(s: ptr<storage, array<u32>, read>, row: u32, c: u32) -> f32 {
  let b = row * (p.KB / 2u) + c / 2u;
  return unpack_h2((*s)[b / 2u])[b % 2u];
}

// UNROLL column blocks a thread loads before it computes on them: ROWS × UNROLL (× 2 with SWIGLU)
// loads in flight, the memory-level parallelism the bandwidth needs when the grid is small.
override UNROLL: u32 = 1; // ROWS × UNROLL ≤ 16
var<private> gw: array<vec4<u32>, 16>;
var<private> uw: array<vec4<u32>, 16>;
var<private> gd: array<f32, 16>; // their scales (1 for f16)
var<private> ud: array<f32, 16>;

// Loads row's weights (and scales) at column block c into slot `at`.
fn load(at: u32, row: u32, c: u32) {
  gw[at] = w[row * p.KB + c];
  gd[at] = 1.0;
  ud[at] = 1.0;
#if SWIGLU
  uw[at] = w2[row * p.KB + c];
#endif
#if Q8
  gd[at] = scale(&ws, row, c);
#endif
#if Q8_SWIGLU
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
