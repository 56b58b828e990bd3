// csattn doctor, the f16 path: y = 2x over f16 pairs, through the prelude's pack_h2 / unpack_h2
// (packed u32) or in f16 arithmetic (F16, shader-f16).
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= arrayLength(&x)) { return; }
#if F16
  y[i] = bitcast<u32>(bitcast<vec2<f16>>(x[i]) * 2.0h);
#else
  y[i] = pack_h2(unpack_h2(x[i]) * 2.0);
#endif
}
