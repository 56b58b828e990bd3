// matvec.wgsl over Q4 weights (include/q4.wgsl): a 16-byte load is 32 values, one block, whose
// values are q·d + m: Σ (q·d + m)·x = d Σ q·x + m Σ x. With DOT4 the token's x is quantized to int8
// per block (xq times xd) and the codes meet it in packed int8 products; otherwise the codes are
// widened to f32.
#requires xs q4x8
const BLOCK = 32u;

var<private> xq: array<u32, 8>;
var<private> xd: f32;
var<private> xsum: f32; // Σ x over the block (with DOT4, of the quantized x)

fn quantize_x() {
#if DOT4
  var m = vec4(0.0);
  for (var j = 0u; j < 8u; j++) { m = max(m, abs(xs[j])); }
  xd = max(max(m.x, m.y), max(m.z, m.w)) / 127.0;
  let inv = select(0.0, 1.0 / xd, xd > 0.0);
  var sum = 0;
  for (var j = 0u; j < 8u; j++) {
    let q = vec4<i32>(round(xs[j] * inv));
    xq[j] = pack4xI8(q);
    sum += q.x + q.y + q.z + q.w;
  }
  xsum = f32(sum) * xd;
#else
  var sum = vec4(0.0);
  for (var j = 0u; j < 8u; j++) { sum += xs[j]; }
  xsum = sum.x + sum.y + sum.z + sum.w;
#endif
}

// The scale and offset of column block c (one block) of a row.
fn scale(s: ptr<storage, array<u32>, read>, row: u32, c: u32) -> vec2<f32> {
  return unpack_h2((*s)[row * p.KB + c]);
}

// Σ over the block of the weights in w, of scale s.x and offset s.y, times the token's x.
fn product(w: vec4<u32>, s: vec2<f32>) -> f32 {
#if DOT4
  var dq = 0;
  for (var i = 0u; i < 4u; i++) {
    dq += dot4I8Packed(w[i] & 0x0f0f0f0fu, xq[2u * i]) + dot4I8Packed((w[i] >> 4u) & 0x0f0f0f0fu, xq[2u * i + 1u]);
  }
  return f32(dq) * xd * s.x + xsum * s.y;
#else
  var dq = 0.0;
  for (var i = 0u; i < 4u; i++) {
    let v = q4x8(w[i]);
    dq += dot(v[0], xs[2u * i]) + dot(v[1], xs[2u * i + 1u]);
  }
  return dq * s.x + xsum * s.y;
#endif
}
