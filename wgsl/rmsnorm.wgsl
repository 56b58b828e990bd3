// RMSNorm (HF): out = x · rsqrt(mean(x²) + eps) · weight, one workgroup per row.

struct Params { n: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<vec2<f32>>;        // [rows, n]
@group(0) @binding(1) var<storage, read> weight: array<u32>;         // f16 [n]
@group(0) @binding(2) var<storage, read_write> out: array<vec2<f32>>; // [rows, n]
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256; // a power of two

#include thread
#include reduce
#include rms

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, th: Thread) {
  let pairs = p.n / 2u;
  let base = wid.x * pairs;
  let scale = rms_scale(base, p.n, p.eps, th);
  for (var j = th.lid; j < pairs; j += WG) {
    out[base + j] = x[base + j] * scale * unpack_h2(weight[j]);
  }
}
