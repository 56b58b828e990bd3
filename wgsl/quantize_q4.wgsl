// f16 weights to Q4 (include/q4.wgsl): each thread quantizes two blocks of 32 (so that it writes a
// whole u32 of scales). As llama.cpp's Q4_0: m is the block's value of largest magnitude, with its
// sign, d = f16(m / -8), so that code 0 is m itself, and q = clamp(round(w / d) + 8, 0, 15).
struct Params { blocks: u32, zero: u32 } // zero: always 0 (see quantize_q8.wgsl)
@group(0) @binding(0) var<storage, read> src: array<u32>; // f16 [blocks · 32]
@group(0) @binding(1) var<storage, read_write> q: array<u32>; // 4-bit codes [blocks · 32]
@group(0) @binding(2) var<storage, read_write> scales: array<u32>; // f16 [blocks], padded to even
@group(0) @binding(3) var<uniform> p: Params;

// Quantizes block b into q; returns its scale.
fn block(b: u32) -> f32 {
  var v: array<f32, 32>;
  var m = 0.0;
  for (var i = 0u; i < 16u; i++) {
    let h = unpack_h2(src[16u * b + i]);
    v[2u * i] = h.x;
    v[2u * i + 1u] = h.y;
    if (abs(h.x) > abs(m)) { m = h.x; }
    if (abs(h.y) > abs(m)) { m = h.y; }
  }
  let d = unpack_h2(pack_h2(vec2(m / -8.0, 0.0)) | p.zero).x;
  let inv = select(0.0, 1.0 / d, d != 0.0);
  for (var i = 0u; i < 4u; i++) {
    var word = 0u;
    for (var j = 0u; j < 4u; j++) {
      let lo = u32(clamp(round(v[8u * i + j] * inv) + 8.0, 0.0, 15.0));
      let hi = u32(clamp(round(v[8u * i + 4u + j] * inv) + 8.0, 0.0, 15.0));
      word |= (lo | (hi << 4u)) << (8u * j);
    }
    q[4u * b + i] = word;
  }
  return d;
}

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let i = gid.x + gid.y * n.x * 256u;
  if (2u * i >= p.blocks) { return; }
  let d0 = block(2u * i);
  var d1 = 0.0;
  if (2u * i + 1u < p.blocks) { d1 = block(2u * i + 1u); }
  scales[i] = pack_h2(vec2(d0, d1));
}
