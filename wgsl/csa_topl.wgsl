// Top-L list of each centroid (one workgroup per row of partial scores): the L keys with the largest
// f16 score (ties: the lower key index), in ascending key order, which is the order the decode-time
// gather reads them in (by tiles of keys, see csa_list_index). Radix select on the 16-bit order key
// of the scores: a histogram of the high byte finds the byte of the L-th largest, a histogram of the
// low byte among keys with that high byte finishes it: threshold T, and how many keys equal to T make
// the cut (the lowest indices). Then compaction in key order (each thread owns a contiguous segment).
struct Params { keys: u32, words: u32, L: u32, list0: u32 }
@group(0) @binding(0) var<storage, read> scores: array<u32>;         // [rows, words] f16 pairs
@group(0) @binding(1) var<storage, read_write> list_idx: array<u32>;  // [lists, L]
@group(0) @binding(2) var<storage, read_write> list_entry: array<u32>; // f16 score bits (csa_list_index adds the key)
@group(0) @binding(3) var<storage, read_write> list_len: array<u32>;
@group(0) @binding(4) var<uniform> p: Params;

// One histogram bin per thread, and the scan below, need exactly 256 threads.
const WG = 256u;

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> found: vec2<u32>;

// f16 bits -> u16 whose unsigned order is the order of the values.
fn order_key(h: u32) -> u32 {
  return select(h | 0x8000u, ~h & 0xffffu, (h & 0x8000u) != 0u);
}
fn score_bits(key: u32) -> u32 {
  return select(~key & 0xffffu, key & 0x7fffu, (key & 0x8000u) != 0u);
}
fn key_at(row: u32, n: u32) -> u32 {
  return order_key((scores[row * p.words + (n >> 1u)] >> ((n & 1u) * 16u)) & 0xffffu);
}

#include scan_u32x2

// The bin holding the r-th largest key (r >= 1) of the 256-bin histogram, and the count above it.
fn resolve(lid: u32, r: u32) -> vec2<u32> {
  let c = atomicLoad(&hist[255u - lid]);
  let above = scan(lid, vec2<u32>(c, 0u)).before.x;
  if (above < r && r <= above + c) { found = vec2<u32>(255u - lid, above); }
  return workgroupUniformLoad(&found);
}

fn select_top(lid: u32, row: u32) {
  // Level 0 finds the high byte of the threshold, level 1 its low byte.
  var hi = vec2<u32>(0u);
  var lo = vec2<u32>(0u);
  for (var level = 0u; level < 2u; level++) {
    atomicStore(&hist[lid], 0u);
    workgroupBarrier();
    for (var n = lid; n < p.keys; n += WG) {
      let k = key_at(row, n);
      if (level == 0u) { atomicAdd(&hist[k >> 8u], 1u); }
      else if ((k >> 8u) == hi.x) { atomicAdd(&hist[k & 255u], 1u); }
    }
    workgroupBarrier();
    let b = resolve(lid, select(p.L - hi.y, p.L, level == 0u));
    if (level == 0u) { hi = b; } else { lo = b; }
  }
  let t = (hi.x << 8u) | lo.x;
  let need_eq = p.L - hi.y - lo.y;

  // Compaction in index order.
  let seg = (p.keys + WG - 1u) / WG;
  let first = min(lid * seg, p.keys);
  let last = min(first + seg, p.keys);
  var n = vec2<u32>(0u);
  for (var i = first; i < last; i++) {
    let k = key_at(row, i);
    n += vec2<u32>(u32(k > t), u32(k == t));
  }
  let at = scan(lid, n).before;
  var eq_seen = at.y;
  var out = at.x + min(eq_seen, need_eq);
  for (var i = first; i < last; i++) {
    let k = key_at(row, i);
    var take = k > t;
    if (k == t) { take = eq_seen < need_eq; eq_seen++; }
    if (take) {
      let at = (p.list0 + row) * p.L + out;
      list_idx[at] = i;
      list_entry[at] = score_bits(k);
      out++;
    }
  }
  if (lid == 0u) { list_len[p.list0 + row] = p.L; }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  select_top(lid, wid.x);
}
