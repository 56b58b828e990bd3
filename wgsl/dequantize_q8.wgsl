// Q8 weights (include/q8.wgsl) back to f16: the tiled prefill products read f16 tiles, so a Q8
// weight is expanded into a scratch buffer before them (one thread per four values).
struct Params { words: u32 } // int8 words (values / 4)
@group(0) @binding(0) var<storage, read> q: array<u32>;
@group(0) @binding(1) var<storage, read> scales: array<u32>;
@group(0) @binding(2) var<storage, read_write> out: array<u32>; // f16 [values]
@group(0) @binding(3) var<uniform> p: Params;

#include q8

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
  let i = gid.x + gid.y * n.x * 256u;
  if (i >= p.words) { return; }
  let b = i / 8u; // its block of 32
  let v = i8x4(q[i]) * unpack_h2(scales[b / 2u])[b % 2u];
  out[2u * i] = pack_h2(v.xy);
  out[2u * i + 1u] = pack_h2(v.zw);
}
