// The builtins a reduction needs: the thread's index in the workgroup and, with subgroups, its lane
// and the subgroup size. Reductions take subgroups to be consecutive invocation indices (true of
// every WebGPU backend for a 1-D workgroup).
struct Thread {
  @builtin(local_invocation_index) lid: u32,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
#endif
}
