// Greedy decoding: the index of the largest logit (the lowest one on ties), written to next[0] and
// to history[step.pos + 1]. One workgroup (one a row of a batch's logits: token_choice_bindings).

struct Params { V: u32 }
#include token_choice_bindings

override WG: u32 = 256; // a power of two

#include thread

struct Best { value: f32, index: u32 }

var<workgroup> red: array<Best, WG>;

fn better(a: Best, b: Best) -> bool {
  return a.value > b.value || (a.value == b.value && a.index < b.index);
}

// The best of every thread's candidate, in thread 0. Subgroups are taken to be consecutive
// invocation indices (true of every WebGPU backend for a 1-D workgroup).
fn wg_best(c: Best, th: Thread) -> Best {
#if SUBGROUPS
  let top = subgroupMax(c.value);
  let index = subgroupMin(select(0xffffffffu, c.index, c.value == top));
  if (th.sg_lane == 0u) { red[th.lid / th.sg_size] = Best(top, index); }
  workgroupBarrier();
  var best = red[0];
  for (var i = 1u; i < (WG + th.sg_size - 1u) / th.sg_size; i++) {
    if (better(red[i], best)) { best = red[i]; }
  }
  return best;
#else
  red[th.lid] = c;
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (th.lid < s && better(red[th.lid + s], red[th.lid])) { red[th.lid] = red[th.lid + s]; }
  }
  return red[0];
#endif
}

@compute @workgroup_size(WG)
fn main(th: Thread, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  choose_row(wid, nwg);
  // Threads past the end start on the last logit: a duplicate candidate changes nothing.
  let first = min(th.lid, p.V - 1u);
  var c = Best(logit(first), first);
  for (var i = th.lid + WG; i < p.V; i += WG) {
    let v = logit(i);
    if (v > c.value) { c = Best(v, i); }
  }
  let best = wg_best(c, th);
  if (th.lid == 0u) {
    emit(best.index);
  }
}
