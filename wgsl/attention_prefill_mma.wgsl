// Causal attention for a prefill chunk on tensor cores (subgroup matrices, f16 x f16 -> f32 at
// 16x16x16, subgroups of 32; needs the MMA and F16 defines). A workgroup is one subgroup (matrix
// operands must be workgroup-uniform, so a subgroup index cannot pick them) and takes ROWS = 16
// rows: BQ queries x HPW heads of one KV group, so each K/V tile serves them all. Their Q (f16,
// prescaled by scale·log2 e) stays in matrix registers.
//
// Two passes over the visible keys, in tiles of BK = 64:
//   1. S = Q·Kᵀ on tensor cores, then each row's running max m and sum l (two lanes per row);
//   2. S again, P = exp2(S - m) / l as f16, O += P·V on tensor cores.
// Recomputing S costs half again the multiply work but keeps O in matrix registers: subgroup
// matrices cannot be rescaled per row, which the one-pass online softmax would need.
// K and V tiles are read straight from the f16 cache (its buffer has BK spare rows past the last
// head, so a tile never reads out of bounds; keys past the visible ones get P = 0).

struct Params { T: u32, Hq: u32, Hkv: u32, capacity: u32, scale: f32 }
struct Step { pos: u32 }

override HPW: u32 = 1;   // query heads per workgroup
override D: u32 = 128;   // head dim, a multiple of 16, at most 16 * MAX_DT

const WG = 32u;          // one subgroup
const ROWS = 16u;
const BK = 64u;
const NEG = -3.0e38;
const MAX_DT = 8u;       // register arrays of matrices need a constant size

override BQ: u32 = ROWS / HPW;
override DT: u32 = D / 16u;       // 16-wide tiles of the head dim

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

@group(0) @binding(0) var<storage, read> q: array<f32>;           // [T, Hq, D] f32
@group(0) @binding(1) var<storage, read> kc: array<f16>;          // [Hkv, capacity, D] (+ BK rows)
@group(0) @binding(2) var<storage, read> vc: array<f16>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [T, Hq, D] f32
@group(0) @binding(4) var<uniform> step: Step;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> qs: array<f16, ROWS * 16u * MAX_DT>;  // constant-sized: matrix loads need it
var<workgroup> st: array<f32, ROWS * BK>;   // 16 x BK: scores, at the end O
var<workgroup> pt: array<f16, ROWS * BK>;   // 16 x BK: probabilities

// Row r of the workgroup is query qb*BQ + r/HPW of head h0 + r%HPW.
struct Row { valid: bool, query: u32, head: u32 }
fn row_of(r: u32, qb: u32, h0: u32) -> Row {
  let i = qb * BQ + r / HPW;
  return Row(r < BQ * HPW && i < p.T, i, h0 + r % HPW);
}

// S of the rows against keys t0 .. t0+BK-1, into st (row-major, stride BK).
fn scores(qm: ptr<function, array<Left, MAX_DT>>, krow: u32) {
  for (var n = 0u; n < BK / 16u; n++) {
    var acc = Acc();
    for (var kk = 0u; kk < DT; kk++) {
      let kt = subgroupMatrixLoad<Right>(&kc, (krow + n * 16u) * D + kk * 16u, true, D);
      acc = subgroupMatrixMultiplyAccumulate((*qm)[kk], kt, acc);
    }
    subgroupMatrixStore(&st, n * 16u, acc, false, BK);
  }
}

// Lane `lane` covers row lane/2 and columns (lane%2)*32 .. +32 of a 16 x BK tile.
fn masked(s: f32, t: u32, row: Row) -> f32 {
  return select(NEG, s, row.valid && t <= step.pos + row.query);
}

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let lane = lid;
  let qb = wg.x;
  let h0 = wg.y * HPW;
  let base = h0 / (p.Hq / p.Hkv) * p.capacity;
  let last = min(p.T, (qb + 1u) * BQ) - 1u;
  let kend = min(step.pos + last + 1u, p.capacity);  // keys [0, kend) are visible to some row

  for (var e = lid; e < ROWS * D; e += WG) {  // rows of stride D
    let row = row_of(e / D, qb, h0);
    var x = 0.0;
    if (row.valid) { x = q[(row.query * p.Hq + row.head) * D + e % D] * p.scale; }
    qs[e] = f16(x);
  }
  workgroupBarrier();
  var qm: array<Left, MAX_DT>;
  for (var kk = 0u; kk < DT; kk++) { qm[kk] = subgroupMatrixLoad<Left>(&qs, kk * 16u, false, D); }

  let rl = lane / 2u;                     // this lane's row
  let row = row_of(rl, qb, h0);
  let c0 = (lane % 2u) * 32u;
  let so = rl * BK + c0;                  // this lane's 32 entries in st / pt

  // Pass 1: running max and sum of every row (both lanes of a row keep the same values).
  var m = NEG;
  var l = 0.0;
  for (var t0 = 0u; t0 < kend; t0 += BK) {
    scores(&qm, base + t0);
    workgroupBarrier();
    var mx = m;
    for (var c = 0u; c < 32u; c++) { mx = max(mx, masked(st[so + c], t0 + c0 + c, row)); }
    mx = max(mx, subgroupShuffleXor(mx, 1u));
    var sum = 0.0;
    for (var c = 0u; c < 32u; c++) { sum += exp2(masked(st[so + c], t0 + c0 + c, row) - mx); }
    sum += subgroupShuffleXor(sum, 1u);
    l = l * exp2(m - mx) + sum;
    m = mx;
    workgroupBarrier();
  }
  let inv = select(0.0, 1.0 / l, l > 0.0);

  // Pass 2: O = sum over tiles of P·V with the final m and l.
  var o: array<Acc, MAX_DT>;
  for (var t0 = 0u; t0 < kend; t0 += BK) {
    scores(&qm, base + t0);
    workgroupBarrier();
    for (var c = 0u; c < 32u; c++) { pt[so + c] = f16(exp2(masked(st[so + c], t0 + c0 + c, row) - m) * inv); }
    workgroupBarrier();
    for (var kk = 0u; kk < BK / 16u; kk++) {
      let pm = subgroupMatrixLoad<Left>(&pt, kk * 16u, false, BK);
      for (var n = 0u; n < DT; n++) {
        let vt = subgroupMatrixLoad<Right>(&vc, (base + t0 + kk * 16u) * D + n * 16u, false, D);
        o[n] = subgroupMatrixMultiplyAccumulate(pm, vt, o[n]);
      }
    }
    workgroupBarrier();
  }

  // O through st, BK / 16 dim tiles at a time, to the rows' places in out.
  for (var n0 = 0u; n0 < DT; n0 += BK / 16u) {
    for (var n = n0; n < min(DT, n0 + BK / 16u); n++) {
      subgroupMatrixStore(&st, (n - n0) * 16u, o[n], false, BK);
    }
    workgroupBarrier();
    for (var c = 0u; c < 32u; c++) {
      let dim = n0 * 16u + c0 + c;
      if (row.valid && dim < D) { out[(row.query * p.Hq + row.head) * D + dim] = st[so + c]; }
    }
    workgroupBarrier();
  }
}
