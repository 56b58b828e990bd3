// Q4 weights (include/q4.wgsl) back to f16, for the tiled prefill products (as dequantize_q8.wgsl;
// one thread per word of eight values).
struct Params { words: u32 } // code words (values / 8)
@group(0) @binding(0) var<storage, read> q: array<u32>;
@group(0) @binding(1) var<storage, read> scales: array<u32>; // f16 (d, m) a block
@group(0) @binding(2) var<storage, read_write> out: array<u32>; // f16 [values]
@group(0) @binding(3) var<uniform> p: Params;

#include q4

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let i = gid.x + gid.y * n.x * 256u;
  if (i >= p.words) { return; }
  let dm = unpack_h2(scales[i / 4u]); // its block of 32
  let v = q4x8(q[i]);
  let lo = v[0] * dm.x + dm.y;
  let hi = v[1] * dm.x + dm.y;
  out[4u * i] = pack_h2(lo.xy);
  out[4u * i + 1u] = pack_h2(lo.zw);
  out[4u * i + 2u] = pack_h2(hi.xy);
  out[4u * i + 3u] = pack_h2(hi.zw);
}
