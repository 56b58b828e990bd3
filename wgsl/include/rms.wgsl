// RMSNorm's scale (HF): 1 / sqrt(mean(x²) + eps) over the n values of the row whose pairs start at
// x[base], summed by the whole workgroup.
#requires x WG Thread wg_sum
fn rms_scale(base: u32, n: u32, eps: f32, th: Thread) -> f32 {
  var ss = 0.0;
  for (var j = th.lid; j < n / 2u; j += WG) {
    let v = x[base + j];
    ss += dot(v, v);
  }
  return inverseSqrt(wg_sum(ss, th) / f32(n) + eps);
}
