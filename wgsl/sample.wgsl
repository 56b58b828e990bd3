// Temperature + top-p (nucleus) sampling in one workgroup, without sorting:
// 1. p_i = exp((logit_i − max) / temperature), unnormalised (the largest is 1).
// 2. The top-p threshold τ is the largest value with mass(τ) = Σ_{p_j ≥ τ} p_j ≥ topP · mass(0).
//    Every token with p ≥ τ is kept: the smallest most-probable set reaching topP, ties at the
//    threshold included. τ is found by bisection on its bits (non-negative floats order like their
//    bits), 16-way: each round (a pass over the logits) measures the mass at 16 evenly spaced bit patterns
//    of [lo, hi) and keeps the sub-interval where it falls below topP · mass(0).
// 3. The draw u · Σ_kept p is located on the cumulative sum in token order: each thread owns a
//    contiguous chunk of tokens, a workgroup scan gives the chunk offsets, the owning thread walks
//    its chunk. u is a hash of (seed, step.pos); sampleUniform() in src/ops/dense.ts is the same.
// The token goes to next[0] and history[step.pos + 1] (a batch: token_choice_bindings).

struct Params { V: u32, inv_temp: f32, top_p: f32, seed: u32 }
#include token_choice_bindings

override WG: u32 = 256; // a power of two
const WAYS = 16u;
const ROUNDS = 8u; // each round divides hi − lo by 16: 16^8 > 0x3f800001 leaves them adjacent

const SUMS = WAYS;

#include thread
#include reduce
var<private> acc: array<f32, SUMS>; // mass at each of the WAYS bit patterns of a round
#include reduce_many

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
  return exp((logit(i) - top_logit) * p.inv_temp);
}

// The bits of τ: the largest lo with mass(lo) ≥ topP · mass(0).
fn threshold_bits(th: Thread) -> u32 {
  var lo = 0u;
  var hi = 0x3f800001u; // p ≤ 1 = bits 0x3f800000; invariant: mass(lo) ≥ nucleus > mass(hi)
  var nucleus = 0.0;
  for (var round = 0u; round < ROUNDS; round++) {
    let stride = (hi - lo + WAYS - 1u) / WAYS;
    // acc[j]: mass at bits lo + j·stride.
    acc = array<f32, SUMS>();
    for (var i = th.lid; i < p.V; i += WG) {
      let pi = prob(i);
      for (var j = 0u; j < WAYS; j++) {
        if (bitcast<u32>(pi) >= lo + j * stride) { acc[j] += pi; }
      }
    }
    wg_sums(WAYS, th);
    if (round == 0u) { nucleus = p.top_p * sums[0]; } // sums[0] = mass(0)
    var way = 0u;
    for (var j = 1u; j < WAYS && lo + j * stride < hi; j++) {
      if (sums[j] >= nucleus) { way = j; }
    }
    hi = min(hi, lo + (way + 1u) * stride);
    lo += way * stride;
  }
  return lo;
}

@compute @workgroup_size(WG)
fn main(th: Thread, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  choose_row(wid, nwg);
  var m = logit(min(th.lid, p.V - 1u));
  for (var i = th.lid + WG; i < p.V; i += WG) { m = max(m, logit(i)); }
  top_logit = wg_max(m, th);
  let tau = bitcast<f32>(threshold_bits(th));

  let chunk = (p.V + WG - 1u) / WG;
  let start = min(th.lid * chunk, p.V);
  let end = min(start + chunk, p.V);
  var s = 0.0;
  for (var i = start; i < end; i++) {
    let pi = prob(i);
    if (pi >= tau) { s += pi; }
  }
  let scan = wg_scan(s, th);
  let draw = uniform01(p.seed, position()) * scan.z;
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
    emit(pick);
  }
}
