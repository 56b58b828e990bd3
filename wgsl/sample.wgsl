// Temperature + top-p (nucleus) sampling in one workgroup, without sorting:
// 1. p_i = exp((logit_i − max) / temperature), unnormalised (the largest is 1).
// 2. The top-p threshold τ is the largest value with Σ_{p_j ≥ τ} p_j ≥ topP · Σ_j p_j, found by
//    bisection on the bits of τ (positive floats order like their bits). Every token with p ≥ τ is
//    kept: the smallest most-probable set reaching topP, ties at the threshold included.
// 3. The draw u · Σ_kept p is located on the cumulative sum in token order: each thread owns a
//    contiguous chunk of tokens, a workgroup scan gives the chunk offsets, the owning thread walks
//    its chunk. u is a hash of (seed, step.pos); sampleUniform() in src/ops/dense.ts is the same.
// The token goes to next[0] and history[step.pos + 1].

struct Params { V: u32, inv_temp: f32, top_p: f32, seed: u32 }
struct Step { pos: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;        // [V]
@group(0) @binding(1) var<storage, read_write> next: array<u32>;    // [1]
@group(0) @binding(2) var<storage, read_write> history: array<u32>; // [capacity + 1]
@group(0) @binding(3) var<uniform> step: Step;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 256; // a power of two

struct Thread {
  @builtin(local_invocation_index) lid: u32,
#if SUBGROUPS
  @builtin(subgroup_invocation_id) sg_lane: u32,
  @builtin(subgroup_size) sg_size: u32,
#endif
}

var<workgroup> red: array<f32, WG>;

const SUM = 0u;
const MAX = 1u;

fn combine(a: f32, b: f32, op: u32) -> f32 {
  return select(a + b, max(a, b), op == MAX);
}

// Σ or max of v over the workgroup, the same value in every thread (the same order of operations
// too, so equal inputs give bit-equal results). Subgroups are taken to be consecutive invocation
// indices (true of every WebGPU backend for a 1-D workgroup).
fn wg_reduce(v: f32, op: u32, th: Thread) -> f32 {
#if SUBGROUPS
  let s = select(subgroupAdd(v), subgroupMax(v), op == MAX);
  if (th.sg_lane == 0u) { red[th.lid / th.sg_size] = s; }
  workgroupBarrier();
  var total = red[0];
  for (var i = 1u; i < (WG + th.sg_size - 1u) / th.sg_size; i++) { total = combine(total, red[i], op); }
#else
  red[th.lid] = v;
  for (var s = WG / 2u; s > 0u; s /= 2u) {
    workgroupBarrier();
    if (th.lid < s) { red[th.lid] = combine(red[th.lid], red[th.lid + s], op); }
  }
  workgroupBarrier();
  let total = red[0];
#endif
  workgroupBarrier();
  return total;
}

// (exclusive, inclusive) prefix sums of v in thread order, and the total (Hillis–Steele scan).
fn wg_scan(v: f32, th: Thread) -> vec3<f32> {
  red[th.lid] = v;
  for (var d = 1u; d < WG; d *= 2u) {
    workgroupBarrier();
    var add = 0.0;
    if (th.lid >= d) { add = red[th.lid - d]; }
    workgroupBarrier();
    red[th.lid] += add;
  }
  workgroupBarrier();
  var before = 0.0;
  if (th.lid > 0u) { before = red[th.lid - 1u]; }
  return vec3(before, red[th.lid], red[WG - 1u]);
}

fn pcg(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

// Uniform in [0, 1) with 24 random bits.
fn uniform01(seed: u32, pos: u32) -> f32 {
  return f32(pcg(pcg(seed) + pos) >> 8u) / 16777216.0;
}

var<private> top_logit: f32;

fn prob(i: u32) -> f32 {
  return exp((logits[i] - top_logit) * p.inv_temp);
}

// Σ p_i over the tokens with p_i ≥ tau.
fn mass(tau: f32, th: Thread) -> f32 {
  var s = 0.0;
  for (var i = th.lid; i < p.V; i += WG) {
    let pi = prob(i);
    if (pi >= tau) { s += pi; }
  }
  return wg_reduce(s, SUM, th);
}

@compute @workgroup_size(WG)
fn main(th: Thread) {
  var m = logits[min(th.lid, p.V - 1u)];
  for (var i = th.lid + WG; i < p.V; i += WG) { m = max(m, logits[i]); }
  top_logit = wg_reduce(m, MAX, th);

  // Invariant: mass(lo) ≥ nucleus > mass(hi). p ≤ 1 = bits 0x3f800000, and 30 halvings of
  // 0x3f800001 < 2^30 leave lo and hi adjacent.
  let nucleus = p.top_p * mass(0.0, th);
  var lo = 0u;
  var hi = 0x3f800001u;
  for (var it = 0u; it < 30u; it++) {
    let mid = lo + (hi - lo) / 2u;
    if (mass(bitcast<f32>(mid), th) >= nucleus) { lo = mid; } else { hi = mid; }
  }
  let tau = bitcast<f32>(lo);

  let chunk = (p.V + WG - 1u) / WG;
  let start = min(th.lid * chunk, p.V);
  let end = min(start + chunk, p.V);
  var s = 0.0;
  for (var i = start; i < end; i++) {
    let pi = prob(i);
    if (pi >= tau) { s += pi; }
  }
  let scan = wg_scan(s, th);
  let draw = uniform01(p.seed, step.pos) * scan.z;
  if (s > 0.0 && scan.x <= draw && draw < scan.y) {
    // The first kept token whose cumulative sum passes draw; the chunk's last kept token if
    // rounding leaves draw just past the walk.
    var run = scan.x;
    var pick = start;
    for (var i = start; i < end; i++) {
      let pi = prob(i);
      if (pi >= tau) {
        pick = i;
        run += pi;
        if (run > draw) { break; }
      }
    }
    next[0] = pick;
    history[step.pos + 1u] = pick;
  }
}
