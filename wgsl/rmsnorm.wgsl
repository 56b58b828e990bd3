// RMSNorm (HF): out = x · rsqrt(mean(x²) + eps) · weight, one workgroup per row.

struct Params { n: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<vec2<f32>>;        // [rows, n]
@group(0) @binding(1) var<storage, read> weight: array<u32>;         // f16 [n]
@group(0) @binding(2) var<storage, read_write> out: array<vec2<f32>>; // [rows, n]
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256; // a power of two

#include thread

var<workgroup> red: array<f32, WG>;

// Σ v over the workgroup, the same value in every thread. Subgroups are taken to be consecutive
// invocation indices (true of every WebGPU backend for a 1-D workgroup).
fn wg_sum(v: f32, th: Thread) -> f32 {
#if SUBGROUPS
  let s = subgroupAdd(v);
  if (th.sg_lane == 0u) { red[th.lid / th.sg_size] = s; }
  workgroupBarrier();
  var total = 0.0;
  for (var i = 0u; i < (WG + th.sg_size - 1u) / th.sg_size; i++) { total += red[i]; }
#else
  red[th.lid] = v;
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (th.lid < s) { red[th.lid] += red[th.lid + s]; }
  }
  workgroupBarrier();
  let total = red[0];
#endif
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, th: Thread) {
  let pairs = p.n / 2u;
  let base = wid.x * pairs;
  var ss = 0.0;
  for (var j = th.lid; j < pairs; j += WG) {
    let v = x[base + j];
    ss += dot(v, v);
  }
  let scale = inverseSqrt(wg_sum(ss, th) / f32(p.n) + p.eps);
  for (var j = th.lid; j < pairs; j += WG) {
    out[base + j] = x[base + j] * scale * unpack_h2(weight[j]);
  }
}
