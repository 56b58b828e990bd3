// Top-L list of each centroid (one workgroup per row of partial scores): the L keys with the largest
// f16 score (ties: the lower key index), in ascending key order, which is the order the decode-time
// gather reads them in (by tiles of keys, see csa_list_index). Radix select on the 16-bit order key
// of the scores: a histogram of the high byte finds the byte of the L-th largest, a histogram of the
// low byte among keys with that high byte finishes it: threshold T, and how many keys equal to T make
// the cut (the lowest indices). Then compaction in key order, a tile of keys at a time.
// Loads are coalesced (thread t reads words t, t + WG, ...), four in flight before a thread's
// atomics (a load issued after a workgroup-memory atomic waits for it), and the histogram has
// COPIES copies, a thread adding to its own (lid % COPIES): scores crowd into few high bytes, and
// the lanes of a subgroup would otherwise queue on the same bin. The compaction, whose threads own
// KPT consecutive keys each (for the key order), passes a tile's keys through padded workgroup memory.
struct Params { keys: u32, words: u32, L: u32, list0: u32 }
@group(0) @binding(0) var<storage, read> scores: array<u32>;         // [rows, words] f16 pairs
@group(0) @binding(1) var<storage, read_write> list_idx: array<u32>;  // [lists, L]
@group(0) @binding(2) var<storage, read_write> list_entry: array<u32>; // f16 score bits (csa_list_index adds the key)
@group(0) @binding(3) var<storage, read_write> list_len: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

// One histogram bin per thread in resolve(), and the scan below, need exactly 256 threads.
const WG = 256u;
const COPIES = 8u;
const KPT = 8u;
const TILE = WG * KPT;
const NONE = 0xffffffffu; // a position past the keys

var<workgroup> hist: array<atomic<u32>, 256 * COPIES>; // bin b, copy c at b * COPIES + c
var<workgroup> found: vec2<u32>;
// A tile's order keys, thread t's at [t * (KPT + 1), t * (KPT + 1) + KPT) (padded: no bank conflicts).
var<workgroup> stage: array<u32, WG * (KPT + 1u)>;

// f16 bits -> u16 whose unsigned order is the order of the values.
fn order_key(h: u32) -> u32 {
  return select(h | 0x8000u, ~h & 0xffffu, (h & 0x8000u) != 0u);
}
fn score_bits(key: u32) -> u32 {
  return select(~key & 0xffffu, key & 0x7fffu, (key & 0x8000u) != 0u);
}

// Words w, w + WG, w + 2 WG, w + 3 WG of a row (clamped into it: callers drop what lies past).
fn words4(row: u32, w: u32) -> vec4<u32> {
  let x = min(vec4<u32>(w, w + WG, w + 2u * WG, w + 3u * WG), vec4<u32>(p.words - 1u)) + vec4<u32>(row * p.words);
  return vec4<u32>(scores[x.x], scores[x.y], scores[x.z], scores[x.w]);
}

#include scan_u32x2

// The bin holding the r-th largest key (r >= 1) of the 256-bin histogram, and the count above it.
fn resolve(lid: u32, r: u32) -> vec2<u32> {
  var c = 0u;
  for (var i = 0u; i < COPIES; i++) { c += atomicLoad(&hist[(255u - lid) * COPIES + i]); }
  let above = scan(lid, vec2<u32>(c, 0u)).before.x;
  if (above < r && r <= above + c) { found = vec2<u32>(255u - lid, above); }
  return workgroupUniformLoad(&found);
}

// Counts order key k (if `live`) into its copy of the histogram: its high byte (level 0), or its low
// byte when its high byte is `high` (level 1).
fn tally(k: u32, live: bool, level: u32, high: u32, copy: u32) {
  if (!live) { return; }
  if (level == 0u) { atomicAdd(&hist[(k >> 8u) * COPIES + copy], 1u); }
  else if ((k >> 8u) == high) { atomicAdd(&hist[(k & 255u) * COPIES + copy], 1u); }
}

fn histogram(lid: u32, row: u32, level: u32, high: u32) {
  for (var i = lid; i < 256u * COPIES; i += WG) { atomicStore(&hist[i], 0u); }
  workgroupBarrier();
  let copy = lid % COPIES;
  for (var w = lid; w < p.words; w += 4u * WG) {
    let v = words4(row, w);
    for (var c = 0u; c < 4u; c++) {
      let key = 2u * (w + c * WG);
      tally(order_key(v[c] & 0xffffu), key < p.keys, level, high, copy);
      tally(order_key(v[c] >> 16u), key + 1u < p.keys, level, high, copy);
    }
  }
  workgroupBarrier();
}

// Tile positions j and j + 1 (one word) into stage, NONE past the keys.
fn stage2(k0: u32, j: u32, word: u32) {
  stage[j + j / KPT] = select(NONE, order_key(word & 0xffffu), k0 + j < p.keys);
  stage[j + 1u + (j + 1u) / KPT] = select(NONE, order_key(word >> 16u), k0 + j + 1u < p.keys);
}

fn select_top(lid: u32, row: u32) {
  histogram(lid, row, 0u, 0u);
  let hi = resolve(lid, p.L);
  histogram(lid, row, 1u, hi.x);
  let lo = resolve(lid, p.L - hi.y);
  let t = (hi.x << 8u) | lo.x;
  let need_eq = p.L - hi.y - lo.y;

  // Compaction in key order, a tile of TILE keys at a time; `before` counts the earlier tiles'
  // keys above T and equal to T.
  var before = vec2<u32>(0u);
  for (var k0 = 0u; k0 < p.keys; k0 += TILE) {
    let w0 = k0 / 2u + lid;
    let v = words4(row, w0);
    stage2(k0, 2u * lid, v.x);
    stage2(k0, 2u * (lid + WG), v.y);
    stage2(k0, 2u * (lid + 2u * WG), v.z);
    stage2(k0, 2u * (lid + 3u * WG), v.w);
    workgroupBarrier();
    let slot = lid * (KPT + 1u);
    var mine = vec2<u32>(0u);
    for (var i = 0u; i < KPT; i++) {
      let k = stage[slot + i];
      if (k != NONE) { mine += vec2<u32>(u32(k > t), u32(k == t)); }
    }
    let sc = scan(lid, mine);
    var eq_seen = before.y + sc.before.y;
    var out = before.x + sc.before.x + min(eq_seen, need_eq);
    for (var i = 0u; i < KPT; i++) {
      let k = stage[slot + i];
      if (k == NONE) { continue; }
      var take = k > t;
      if (k == t) { take = eq_seen < need_eq; eq_seen++; }
      if (take) {
        let at = (p.list0 + row) * p.L + out;
        list_idx[at] = k0 + lid * KPT + i;
        list_entry[at] = score_bits(k);
        out++;
      }
    }
    before += sc.total;
    workgroupBarrier();
  }
  if (lid == 0u) { list_len[p.list0 + row] = p.L; }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  select_top(lid, wid.x);
}
