// Un-rotating a row by -pos (the model rotated it by +pos; HF rotate-half layout), for CSA's
// pre-RoPE option. The including kernel binds inv_freq (f32 [d/2]).
#requires inv_freq

// The angle modulo 2pi, exactly up to the f32 rounding of the result: GPU cos/sin are accurate only
// near [-pi, pi] (NVIDIA's are off by ~1e-4 at a few thousand rad). Cody-Waite with 2pi split into
// parts of 7 significant bits, so k * part is exact for |k| < 2^17: angles up to 8e5 rad.
fn reduce(theta: f32) -> f32 {
  let k = round(theta * 0.15915494);
  var r = theta - k * 6.25;
  r -= k * 0.03271484375;
  r -= k * 0.000469207763671875;
  r -= k * 1.2516975402832031e-6;
  r -= k * 3.958120942115784e-9;
  r -= k * 1.0231815394945443e-11;
  return r;
}

// The rotate-half partner of element i of a row of d = 2 half elements.
fn partner(i: u32, half: u32) -> u32 {
  return select(i + half, i - half, i >= half);
}

// Element i rotated back by -pos, from its value x and its partner's value y.
fn unrope(x: f32, y: f32, i: u32, half: u32, pos: u32) -> f32 {
  let theta = reduce(f32(pos) * inv_freq[i % half]);
  let c = cos(theta);
  let s = sin(theta);
  return select(x * c - y * s, x * c + y * s, i < half);
}
