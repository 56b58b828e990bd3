// A decode batch's x as the left operand of matmul_batch_mma: xh[t, k] = f16(x[t, k]) for t < T and
// k < K, and zero up to 16 rows and KP columns, so that the product's tiles past T and K multiply
// zeros. With NORM, x is RMS-normalised and scaled by norm_w first (HF, as rmsnorm.wgsl), so a
// batch's product needs no rmsnorm dispatch of its own. One workgroup per (slice of WG * PAIRS pairs, row
// of xh): one a row (16 workgroups, a thread looping over the row) took ~11 us a dispatch on an
// H100, 1.8 ms of a B = 16 step's 161 conversions. With NORM each workgroup of a row sums the whole
// row's squares itself (the row comes from L2).
struct Params { T: u32, K: u32, KP: u32, eps: f32 }

@group(0) @binding(0) var<storage, read> x: array<vec2<f32>>;     // [T, K]
@group(0) @binding(1) var<storage, read_write> xh: array<u32>;    // f16 pairs [16, KP]
@group(0) @binding(2) var<uniform> p: Params;
#if NORM
@group(0) @binding(3) var<storage, read> norm_w: array<u32>;      // f16 [K]
#endif

override WG: u32 = 256; // a power of two
const PAIRS = 2u;        // pairs of x a thread converts: WG * PAIRS a workgroup (HALVES_SLICE in ops/dense.ts)

#include thread
#include reduce
#include rms

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, th: Thread) {
  let t = wid.y;
  let live = t < p.T; // the same in the whole workgroup
  let pairs = p.K / 2u;
  let base = t * pairs;
  var scale = 1.0;
#if NORM
  if (live) { scale = rms_scale(base, p.K, p.eps, th); }
#endif
  for (var i = 0u; i < PAIRS; i++) {
    let j = (wid.x * PAIRS + i) * WG + th.lid;
    if (j >= p.KP / 2u) { break; }
    var v = vec2<f32>();
    if (live && j < pairs) {
      v = x[base + j] * scale;
#if NORM
      v *= unpack_h2(norm_w[j]);
#endif
    }
    xh[t * (p.KP / 2u) + j] = pack_h2(v);
  }
}
