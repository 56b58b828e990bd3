// f16 weights to Q8 (include/q8.wgsl): each thread quantizes two blocks of 32 (so that it writes a
// whole u32 of scales). d = f16(max |w| / 127) and q = round(w / d), so that dequantising with the
// stored d is what the products compute (llama.cpp's Q8_0 rounds with the f32 d instead).
struct Params { blocks: u32, zero: u32 } // zero: always 0 (below)
@group(0) @binding(0) var<storage, read> src: array<u32>; // f16 [blocks · 32]
@group(0) @binding(1) var<storage, read_write> q: array<u32>; // int8 [blocks · 32]
@group(0) @binding(2) var<storage, read_write> scales: array<u32>; // f16 [blocks], padded to even
@group(0) @binding(3) var<uniform> p: Params;

#include q8

// Quantizes block b into q; returns its scale.
fn block(b: u32) -> f32 {
  var v: array<vec2<f32>, 16>;
  var amax = 0.0;
  for (var i = 0u; i < 16u; i++) {
    v[i] = unpack_h2(src[16u * b + i]);
    amax = max(amax, max(abs(v[i].x), abs(v[i].y)));
  }
  // OR-ing a uniform 0 keeps the compiler from folding unpack(pack(d)) back to the f32 d (lavapipe does).
  let d = unpack_h2(pack_h2(vec2(amax / 127.0, 0.0)) | p.zero).x;
  let inv = select(0.0, 1.0 / d, d > 0.0);
  for (var i = 0u; i < 8u; i++) {
    let r = clamp(round(vec4(v[2u * i], v[2u * i + 1u]) * inv), vec4(-127.0), vec4(127.0));
    let b8 = vec4<u32>(vec4<i32>(r)) & vec4(0xffu);
    q[8u * b + i] = b8.x | (b8.y << 8u) | (b8.z << 16u) | (b8.w << 24u);
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
