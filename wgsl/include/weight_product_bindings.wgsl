// Bindings of the weight products (matmul, matvec), after the kernel's own Params struct:
// x f32 [tokens, K], W f16 [rows, K] (a row range of the weight), then the up projection (SWIGLU)
// or the bias (BIAS) as binding 2 when present (EXTRA), then y f32 [tokens, N] and the params.
@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
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
