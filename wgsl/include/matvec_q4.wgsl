// matvec.wgsl over Q4 weights (include/q4.wgsl): a 16-byte load is 32 values, one block. With
// DOT4 the token's x is quantized to int8 per block (xq times xd) and the codes meet it in packed
// int8 products: Σ (q - 8)·x = Σ q·x - 8 Σ x; otherwise the codes are widened to f32.
#requires xs q4x8
const BLOCK = 32u;
const COLUMN_BLOCKS_A_SCALE = 1u;

var<private> xq: array<u32, 8>;
var<private> xd: f32;
var<private> xsum: i32; // Σ xq over the block

fn quantize_x() {
#if DOT4
  var m = vec4(0.0);
  for (var j = 0u; j < 8u; j++) { m = max(m, abs(xs[j])); }
  xd = max(max(m.x, m.y), max(m.z, m.w)) / 127.0;
  let inv = select(0.0, 1.0 / xd, xd > 0.0);
  xsum = 0;
  for (var j = 0u; j < 8u; j++) {
    let q = vec4<i32>(round(xs[j] * inv));
    xq[j] = pack4xI8(q);
    xsum += q.x + q.y + q.z + q.w;
  }
#endif
}

// Σ over the block of the weights in w times the token's x, unscaled by w's scale.
fn product(w: vec4<u32>) -> f32 {
#if DOT4
  var s = 0;
  for (var i = 0u; i < 4u; i++) {
    s += dot4I8Packed(w[i] & 0x0f0f0f0fu, xq[2u * i]) + dot4I8Packed((w[i] >> 4u) & 0x0f0f0f0fu, xq[2u * i + 1u]);
  }
  return f32(s - 8 * xsum) * xd;
#else
  var s = 0.0;
  for (var i = 0u; i < 4u; i++) {
    let v = q4x8(w[i]);
    s += dot(v[0], xs[2u * i]) + dot(v[1], xs[2u * i + 1u]);
  }
  return s;
#endif
}
