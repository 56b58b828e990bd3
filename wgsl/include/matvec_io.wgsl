// Bindings and output of the matrix-vector kernels (matvec, matvec_subgroup).
struct Params { K8: u32, N: u32, row0: u32, rows: u32 } // K8 = K / 8

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>; // [TOKENS, K]
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>; // f16 [rows, K]
#if SWIGLU
@group(0) @binding(2) var<storage, read> w2: array<vec4<u32>>; // f16 [rows, K]
#endif
#if BIAS
@group(0) @binding(2) var<storage, read> bias: array<u32>; // f16 [N]
#endif
#if EXTRA
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // [TOKENS, N]
@group(0) @binding(4) var<uniform> p: Params;
#else
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
#endif

override TOKENS: u32 = 1;
#if SWIGLU
const PRODUCTS = 2u; // gate and up
#else
const PRODUCTS = 1u;
#endif

fn unpack8(v: vec4<u32>) -> array<vec4<f32>, 2> {
  return array(vec4(unpack_h2(v.x), unpack_h2(v.y)), vec4(unpack_h2(v.z), unpack_h2(v.w)));
}

// Writes output (t, row0 + n) from the dot products with G (or W) and U.
fn store(t: u32, n: u32, g: f32, u: f32) {
  let row = p.row0 + n;
  let i = t * p.N + row;
#if SWIGLU
  var v = g / (1.0 + exp(-g)) * u;
#else
  var v = g;
#endif
#if BIAS
  v += unpack_h2(bias[row / 2u])[row % 2u];
#endif
#if ACCUMULATE
  v += y[i];
#endif
  y[i] = v;
}

