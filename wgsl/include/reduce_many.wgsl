// Many workgroup sums at once: sums[j] = Σ over the workgroup of acc[j], for j < count (count may
// exceed WG: a 32-thread matvec of 8 tokens has 40). With SUBGROUPS every subgroup adds each acc[j]
// and thread t adds up the subgroups' sums of j = t, t + WG, ...; without, one tree per j. The kernel
// defines SUMS (the most sums at once) and var<private> acc: array<f32, SUMS>, and includes reduce
// (for WG, Thread and red).
#requires SUMS acc red

var<workgroup> sums: array<f32, SUMS>;
#if SUBGROUPS
var<workgroup> partial: array<f32, SUMS * WG / 4u>; // [sum][subgroup]; subgroups have ≥ 4 lanes
#endif

fn wg_sums(count: u32, th: Thread) {
#if SUBGROUPS
  let groups = (WG + th.sg_size - 1u) / th.sg_size;
  for (var j = 0u; j < count; j++) {
    let s = subgroupAdd(acc[j]);
    if (th.sg_lane == 0u) { partial[j * groups + th.lid / th.sg_size] = s; }
  }
  workgroupBarrier();
  for (var j = th.lid; j < count; j += WG) {
    var total = 0.0;
    for (var i = 0u; i < groups; i++) { total += partial[j * groups + i]; }
    sums[j] = total;
  }
#else
  for (var j = 0u; j < count; j++) {
    workgroupBarrier(); // the previous round has read red
    red[th.lid] = acc[j];
    for (var s = WG / 2u; s > 0u; s /= 2u) {
      workgroupBarrier();
      if (th.lid < s) { red[th.lid] += red[th.lid + s]; }
    }
    if (th.lid == 0u) { sums[j] = red[0]; }
  }
#endif
  workgroupBarrier();
}
