// Merges the split partials of flash-decoding into the attention output. Workgroup (h, c) writes
// dims c*WG .. c*WG+WG-1 of query head h. A split's partial is an unnormalised acc with its max m
// and sum l (log2 units); empty splits carry m = -3e38, l = 0 and vanish in the merge. A head with
// no keys at all outputs zeros. SPLITS is a pipeline constant so the loops over splits unroll and
// their loads overlap.

override WG: u32 = 64;
override D: u32 = 128;
override SPLITS: u32 = 1;

@group(0) @binding(0) var<storage, read> part_acc: array<f32>;         // [Hq, SPLITS, D]
@group(0) @binding(1) var<storage, read> part_ml: array<vec2<f32>>;    // [Hq, SPLITS]
@group(0) @binding(2) var<storage, read_write> out: array<f32>;        // [Hq, D]

var<workgroup> weight: array<f32, SPLITS>;
var<workgroup> partial: array<f32, WG>;

// Every thread's x combined by `op` over the workgroup (op 0: max, 1: sum).
fn combine(x: f32, lid: u32, op: u32) -> f32 {
  partial[lid] = x;
  workgroupBarrier();
  var r = partial[0];
  for (var i = 1u; i < WG; i++) { r = select(max(r, partial[i]), r + partial[i], op == 1u); }
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let first = wg.x * SPLITS;
  var m = -3.0e38;
  for (var s = lid; s < SPLITS; s += WG) { m = max(m, part_ml[first + s].x); }
  m = combine(m, lid, 0u);
  var l = 0.0;
  for (var s = lid; s < SPLITS; s += WG) {
    let ml = part_ml[first + s];
    weight[s] = exp2(ml.x - m);
    l += ml.y * weight[s];
  }
  l = combine(l, lid, 1u);  // its barriers also publish weight[]
  let i = wg.y * WG + lid;
  if (i < D) {
    var acc = 0.0;
    for (var s = 0u; s < SPLITS; s++) { acc += part_acc[(first + s) * D + i] * weight[s]; }
    out[wg.x * D + i] = select(0.0, acc / l, l > 0.0);
  }
}
