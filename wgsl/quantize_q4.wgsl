// f16 weights to Q4 (include/q4.wgsl), one thread a block. As llama.cpp's Q4_1: from the block's
// least value m and largest M, d = f16((M - m) / 15), m stored as f16, q = clamp(round((w - m) / d),
// 0, 15).
struct Params { blocks: u32, zero: u32 } // zero: always 0 (see quantize_q8.wgsl)
@group(0) @binding(0) var<storage, read> src: array<u32>; // f16 [blocks · 32]
@group(0) @binding(1) var<storage, read_write> q: array<u32>; // 4-bit codes [blocks · 32]
@group(0) @binding(2) var<storage, read_write> scales: array<u32>; // f16 (d, m) [blocks]
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let b = gid.x + gid.y * n.x * 256u;
  if (b >= p.blocks) { return; }
  var v: array<f32, 32>;
  var lo = 65504.0;
  var hi = -65504.0;
  for (var i = 0u; i < 16u; i++) {
    let h = unpack_h2(src[16u * b + i]);
    v[2u * i] = h.x;
    v[2u * i + 1u] = h.y;
    lo = min(lo, min(h.x, h.y));
    hi = max(hi, max(h.x, h.y));
  }
  // OR-ing a uniform 0 keeps the compiler from folding unpack(pack(·)) away (quantize_q8.wgsl).
  let dm = unpack_h2(pack_h2(vec2((hi - lo) / 15.0, lo)) | p.zero);
  let inv = select(0.0, 1.0 / dm.x, dm.x > 0.0);
  for (var i = 0u; i < 4u; i++) {
    var word = 0u;
    for (var j = 0u; j < 4u; j++) {
      let c0 = u32(clamp(round((v[8u * i + j] - dm.y) * inv), 0.0, 15.0));
      let c1 = u32(clamp(round((v[8u * i + 4u + j] - dm.y) * inv), 0.0, 15.0));
      word |= (c0 | (c1 << 4u)) << (8u * j);
    }
    q[4u * b + i] = word;
  }
  scales[b] = pack_h2(dm);
}
