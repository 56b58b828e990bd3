// Merges the split partials of flash-decoding into the attention output. Workgroup (h, c) writes
// dims c*DIMS .. c*DIMS+DIMS-1 of query head h; its threads are DIMS dims × GROUPS groups of splits,
// so each thread has only a few partial loads in flight and no long chain of them. A split's partial
// is an unnormalised acc with its max m and sum l (log2 units); empty splits carry m = -3e38, l = 0
// and vanish in the merge. A head with no keys at all outputs zeros.

override D: u32 = 128;
override SPLITS: u32 = 1;

const DIMS = 16u;
const GROUPS = 16u;
const WG = DIMS * GROUPS;  // a power of two, for the tree reductions

@group(0) @binding(0) var<storage, read> part_acc: array<f32>;         // [Hq, SPLITS, D]
@group(0) @binding(1) var<storage, read> part_ml: array<vec2<f32>>;    // [Hq, SPLITS]
@group(0) @binding(2) var<storage, read_write> out: array<f32>;        // [Hq, D]

var<workgroup> weight: array<f32, SPLITS>;
#include thread
#include reduce

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let first = wg.x * SPLITS;
  var m = -3.0e38;
  for (var s = lid; s < SPLITS; s += WG) { m = max(m, part_ml[first + s].x); }
  m = wg_tree(m, lid, true);
  var l = 0.0;
  for (var s = lid; s < SPLITS; s += WG) {
    let ml = part_ml[first + s];
    weight[s] = exp2(ml.x - m);
    l += ml.y * weight[s];
  }
  l = wg_tree(l, lid, false);  // its barriers also publish weight[]

  let dim = wg.y * DIMS + lid % DIMS;
  var acc = 0.0;
  if (dim < D) {
    for (var s = lid / DIMS; s < SPLITS; s += GROUPS) { acc += part_acc[(first + s) * D + dim] * weight[s]; }
  }
  red[lid] = acc; // red is free after the reductions
  workgroupBarrier();
  if (lid < DIMS && dim < D) {
    var total = 0.0;
    for (var g = 0u; g < GROUPS; g++) { total += red[g * DIMS + lid]; }
    out[wg.x * D + dim] = select(0.0, total / l, l > 0.0);
  }
}
