// Merges the split partials of flash-decoding into the attention output: one workgroup per query
// head. A split's partial is an unnormalised acc with its max m and sum l (log2 units); empty
// splits carry m = -3e38, l = 0 and vanish in the merge. A head with no keys at all outputs zeros.

struct Params { splits: u32 }

override WG: u32 = 64;
override D: u32 = 128;

@group(0) @binding(0) var<storage, read> part_acc: array<f32>;         // [Hq, splits, D]
@group(0) @binding(1) var<storage, read> part_ml: array<vec2<f32>>;    // [Hq, splits]
@group(0) @binding(2) var<storage, read_write> out: array<f32>;        // [Hq, D]
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let first = wg.x * p.splits;
  var m = -3.0e38;
  for (var s = 0u; s < p.splits; s++) { m = max(m, part_ml[first + s].x); }
  var l = 0.0;
  for (var s = 0u; s < p.splits; s++) { l += part_ml[first + s].y * exp2(part_ml[first + s].x - m); }
  let inv = select(0.0, 1.0 / l, l > 0.0);
  for (var i = lid; i < D; i += WG) {
    var acc = 0.0;
    for (var s = 0u; s < p.splits; s++) { acc += part_acc[(first + s) * D + i] * exp2(part_ml[first + s].x - m); }
    out[wg.x * D + i] = acc * inv;
  }
}
