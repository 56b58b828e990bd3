// Causal flash-attention for a prefill chunk of T queries at positions step.pos .. step.pos+T-1;
// query t sees cache keys [0, step.pos + t]. A workgroup takes ROWS rows = BQ queries × HPW heads
// of one KV group (so each K/V tile serves them all) and walks the keys in tiles of BK:
//   S = Q·Kᵀ       (K tile staged in workgroup memory; 2 rows × BK/8 keys per thread),
//   online softmax (one thread per row: running max m and sum l, P overwrites S),
//   O = O·c + P·V  (32 lanes over the row's words × 8 rows per thread, V read straight from memory).
// Scores are in log2 units (q is prescaled by scale·log2 e), so exp2 serves throughout.

struct Params { T: u32, Hq: u32, Hkv: u32, capacity: u32, scale: f32 }
struct Step { pos: u32 }

override HPW: u32 = 1;   // query heads per workgroup
override D: u32 = 128;   // head dim (even)
override BK: u32 = 32;   // keys per tile: a multiple of 8, at most 32

const WG = 64u;          // the thread mappings below are laid out for 64 threads
const ROWS = 16u;
const NEG = -3.0e38;     // "minus infinity" that stays finite through subtraction

override BQ: u32 = ROWS / HPW;         // queries per workgroup
override DP: u32 = D / 2u;             // u32 words (f16 pairs) per K/V row
override STRIDE: u32 = DP + 1u;        // padded row stride in qs/ks: rows start on different banks
override KA: u32 = BK / 8u;            // keys per thread in S = Q·Kᵀ
override SSTRIDE: u32 = BK + 1u;
override LANE_WORDS: u32 = (DP + 31u) / 32u;

@group(0) @binding(0) var<storage, read> q: array<vec2<f32>>;           // [T, Hq, D] f32
@group(0) @binding(1) var<storage, read> kc: array<u32>;                // [Hkv, capacity, D] f16
@group(0) @binding(2) var<storage, read> vc: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<vec2<f32>>;   // [T, Hq, D] f32
@group(0) @binding(4) var<uniform> step: Step;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> qs: array<vec2<f32>, ROWS * STRIDE>;
var<workgroup> ks: array<u32, BK * STRIDE>;
var<workgroup> sc: array<f32, ROWS * SSTRIDE>;   // scores, then probabilities
var<workgroup> rescale: array<f32, ROWS>;         // per row: this tile's acc factor; at the end 1/l

// Row r of the workgroup is query qb*BQ + r/HPW of head h0 + r%HPW.
struct Row { valid: bool, query: u32, head: u32 }
fn row_of(r: u32, qb: u32, h0: u32) -> Row {
  let i = qb * BQ + r / HPW;
  return Row(r < BQ * HPW && i < p.T, i, h0 + r % HPW);
}

fn load_queries(lid: u32, qb: u32, h0: u32) {
  for (var e = lid; e < ROWS * DP; e += WG) {
    let row = row_of(e / DP, qb, h0);
    var x = vec2<f32>();
    if (row.valid) { x = q[(row.query * p.Hq + row.head) * DP + e % DP] * p.scale; }
    qs[e / DP * STRIDE + e % DP] = x;
  }
}

// Keys past kend are clamped to kend - 1: finite values that the mask discards.
fn load_keys(lid: u32, t0: u32, kend: u32, row0: u32) {
  for (var e = lid; e < BK * DP; e += WG) {
    let k = e / DP;
    ks[k * STRIDE + e % DP] = kc[(row0 + min(t0 + k, kend - 1u)) * DP + e % DP];
  }
}

fn score_tile(lid: u32, t0: u32, qb: u32, h0: u32) {
  let r0 = lid / 8u * 2u;
  let k0 = lid % 8u;
  var dots: array<array<f32, 4>, 2>;
  for (var w = 0u; w < DP; w++) {
    let qa = qs[r0 * STRIDE + w];
    let qb2 = qs[(r0 + 1u) * STRIDE + w];
    for (var b = 0u; b < KA; b++) {
      let kv = unpack_h2(ks[(k0 + 8u * b) * STRIDE + w]);
      dots[0][b] += dot(qa, kv);
      dots[1][b] += dot(qb2, kv);
    }
  }
  for (var a = 0u; a < 2u; a++) {
    let row = row_of(r0 + a, qb, h0);
    for (var b = 0u; b < KA; b++) {
      let k = k0 + 8u * b;
      let visible = row.valid && t0 + k <= step.pos + row.query;
      sc[(r0 + a) * SSTRIDE + k] = select(NEG, dots[a][b], visible);
    }
  }
}

// Online softmax of row r over this tile; rows with no visible key yet cannot occur (key 0 is
// visible to every query and sits in the first tile), so m is finite after the first tile.
fn softmax_row(r: u32, m: ptr<function, f32>, l: ptr<function, f32>) {
  let base = r * SSTRIDE;
  var mx = *m;
  for (var k = 0u; k < BK; k++) { mx = max(mx, sc[base + k]); }
  var sum = 0.0;
  for (var k = 0u; k < BK; k++) {
    let e = exp2(sc[base + k] - mx);
    sc[base + k] = e;
    sum += e;
  }
  let c = exp2(*m - mx);
  rescale[r] = c;
  *l = *l * c + sum;
  *m = mx;
}

// acc[a*4 + i]: row r0 + a, word lane + 32*i.
fn accumulate(lid: u32, t0: u32, kend: u32, row0: u32, acc: ptr<function, array<vec2<f32>, 32>>) {
  let lane = lid % 32u;
  let r0 = lid / 32u * 8u;
  for (var a = 0u; a < 8u; a++) {
    let c = rescale[r0 + a];
    for (var i = 0u; i < LANE_WORDS; i++) { (*acc)[a * 4u + i] *= c; }
  }
  for (var k = 0u; k < BK; k++) {
    let row = (row0 + min(t0 + k, kend - 1u)) * DP;
    var v: array<vec2<f32>, 4>;
    for (var i = 0u; i < LANE_WORDS; i++) {
      let w = lane + 32u * i;
      if (w < DP) { v[i] = unpack_h2(vc[row + w]); }
    }
    for (var a = 0u; a < 8u; a++) {
      let e = sc[(r0 + a) * SSTRIDE + k];
      for (var i = 0u; i < LANE_WORDS; i++) { (*acc)[a * 4u + i] += e * v[i]; }
    }
  }
}

fn write_out(lid: u32, qb: u32, h0: u32, acc: ptr<function, array<vec2<f32>, 32>>) {
  let lane = lid % 32u;
  let r0 = lid / 32u * 8u;
  for (var a = 0u; a < 8u; a++) {
    let row = row_of(r0 + a, qb, h0);
    for (var i = 0u; i < LANE_WORDS; i++) {
      let w = lane + 32u * i;
      if (row.valid && w < DP) { out[(row.query * p.Hq + row.head) * DP + w] = (*acc)[a * 4u + i] * rescale[r0 + a]; }
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let qb = wg.x;
  let h0 = wg.y * HPW;
  let row0 = h0 / (p.Hq / p.Hkv) * p.capacity;
  let last = min(p.T, (qb + 1u) * BQ) - 1u;
  let kend = min(step.pos + last + 1u, p.capacity);  // keys [0, kend) are visible to some row

  load_queries(lid, qb, h0);
  load_keys(lid, 0u, kend, row0);
  var m = NEG;  // softmax state of row lid (threads lid < ROWS)
  var l = 0.0;
  var acc: array<vec2<f32>, 32>;
  workgroupBarrier();
  for (var t0 = 0u; t0 < kend; t0 += BK) {
    score_tile(lid, t0, qb, h0);
    workgroupBarrier();
    if (t0 + BK < kend) { load_keys(lid, t0 + BK, kend, row0); }
    if (lid < ROWS) { softmax_row(lid, &m, &l); }
    workgroupBarrier();
    accumulate(lid, t0, kend, row0, &acc);
    workgroupBarrier();
  }
  if (lid < ROWS) { rescale[lid] = 1.0 / l; }
  workgroupBarrier();
  write_out(lid, qb, h0, &acc);
}
