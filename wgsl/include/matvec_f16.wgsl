// matvec.wgsl over f16 weights: a 16-byte load is 8 values.
#requires xs
const BLOCK = 8u;

fn quantize_x() {}

// Σ over the column block of the weights in w times the token's x (f16 has no scales).
fn product(w: vec4<u32>, s: vec2<f32>) -> f32 {
  return dot(vec4(unpack_h2(w.x), unpack_h2(w.y)), xs[0]) + dot(vec4(unpack_h2(w.z), unpack_h2(w.w)), xs[1]);
}
