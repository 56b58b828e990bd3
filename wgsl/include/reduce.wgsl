// Workgroup reductions of one f32 per thread, the result in every thread: with SUBGROUPS a subgroup
// operation, then one pass over the subgroups' results; without, a tree in workgroup memory.
// Subgroups are taken to be consecutive invocation indices (true of every WebGPU backend for a
// 1-D workgroup). The kernel defines WG, its workgroup size (a power of two), and includes thread.
// red is free for the kernel's own use between reductions.
#requires WG Thread

var<workgroup> red: array<f32, WG>;

fn reduce_op(a: f32, b: f32, is_max: bool) -> f32 {
  return select(a + b, max(a, b), is_max);
}

// The sum (or max) of v over the workgroup by a tree, without subgroups (for small reductions
// and kernels without a Thread).
fn wg_tree(v: f32, lid: u32, is_max: bool) -> f32 {
  red[lid] = v;
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (lid < s) { red[lid] = reduce_op(red[lid], red[lid + s], is_max); }
  }
  workgroupBarrier();
  let r = red[0];
  workgroupBarrier();
  return r;
}

#if SUBGROUPS
// Combines the subgroups' results s (one per subgroup, held by its lane 0).
fn across_subgroups(s: f32, th: Thread, is_max: bool) -> f32 {
  if (th.sg_lane == 0u) { red[th.lid / th.sg_size] = s; }
  workgroupBarrier();
  var r = red[0];
  for (var i = 1u; i < (WG + th.sg_size - 1u) / th.sg_size; i++) { r = reduce_op(r, red[i], is_max); }
  workgroupBarrier();
  return r;
}
#endif

fn wg_sum(v: f32, th: Thread) -> f32 {
#if SUBGROUPS
  return across_subgroups(subgroupAdd(v), th, false);
#else
  return wg_tree(v, th.lid, false);
#endif
}

fn wg_max(v: f32, th: Thread) -> f32 {
#if SUBGROUPS
  return across_subgroups(subgroupMax(v), th, true);
#else
  return wg_tree(v, th.lid, true);
#endif
}
