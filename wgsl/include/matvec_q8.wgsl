// matvec.wgsl over Q8 weights (include/q8.wgsl): a 16-byte load is 16 int8 values, half a block.
// With DOT4 the token's x is quantized to int8 per column block (xq times xd, as llama.cpp's MMVQ
// quantizes activations per 32 in a pass of its own) for packed int8 products; otherwise the
// weights are widened to f32.
#requires xs i8x4
const BLOCK = 16u;

var<private> xq: vec4<u32>;
var<private> xd: f32;

fn quantize_x() {
#if DOT4
  let m = max(max(abs(xs[0]), abs(xs[1])), max(abs(xs[2]), abs(xs[3])));
  xd = max(max(m.x, m.y), max(m.z, m.w)) / 127.0;
  let inv = select(0.0, 1.0 / xd, xd > 0.0);
  for (var j = 0u; j < 4u; j++) { xq[j] = pack4xI8(vec4<i32>(round(xs[j] * inv))); }
#endif
}

// The scale of column block c of a row, two column blocks a block (and no offset).
fn scale(s: ptr<storage, array<u32>, read>, row: u32, c: u32) -> vec2<f32> {
  let b = row * (p.KB / 2u) + c / 2u;
  return vec2(unpack_h2((*s)[b / 2u])[b % 2u], 0.0);
}

// Σ over the column block of the weights in w, of scale s.x, times the token's x.
fn product(w: vec4<u32>, s: vec2<f32>) -> f32 {
#if DOT4
  return f32(dot4I8Packed(w.x, xq.x) + dot4I8Packed(w.y, xq.y) + dot4I8Packed(w.z, xq.z) + dot4I8Packed(w.w, xq.w)) * xd * s.x;
#else
  return (dot(i8x4(w.x), xs[0]) + dot(i8x4(w.y), xs[1]) + dot(i8x4(w.z), xs[2]) + dot(i8x4(w.w), xs[3])) * s.x;
#endif
}
