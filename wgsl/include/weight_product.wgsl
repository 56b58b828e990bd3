// Bindings and output of the weight products (matmul, matvec), after the kernel's own Params struct:
// x f32 [tokens, K], W f16 [rows, K] (a row range of the weight), then the up projection (SWIGLU)
// or the bias (BIAS) as binding 2 when present (EXTRA), then y f32 [tokens, N] and the params.
// W comes as 16-byte words; x as f32, or with X_HALVES as halves.wgsl writes it (f16 [16, KP]).
#requires Params
#if X_HALVES
@group(0) @binding(0) var<storage, read> x: array<f16>;
#else
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
#endif
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>;
#if SWIGLU
@group(0) @binding(2) var<storage, read> w2: array<vec4<u32>>;
#endif
#if BIAS
@group(0) @binding(2) var<storage, read> bias: array<u32>; // f16 [N]
#endif
#if EXTRA
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;
#else
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;
#endif

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
