// Top-L list of one centroid (one workgroup per row of partial scores): the L keys with the largest
// f16 score, sorted by score descending and then by key index ascending.
//  1. Radix select on the 16-bit order key of the scores: a histogram of the high byte finds the
//     byte of the L-th largest, a histogram of the low byte among keys with that high byte finishes
//     it: threshold T, and how many keys equal to T make the cut (the lowest indices).
//  2. Compaction in key-index order (each thread owns a contiguous segment; a scan gives offsets).
//  3. Stable LSD radix sort of the L (order key, index) pairs, 4 passes of 4 bits, which keeps the
//     index order of equal scores. The last pass writes the list.
struct Params { keys: u32, words: u32, L: u32, lcap: u32, rows: u32, list0: u32 }
@group(0) @binding(0) var<storage, read> scores: array<u32>;         // [rows, words] f16 pairs
@group(0) @binding(1) var<storage, read_write> tmp: array<vec2<u32>>; // [2, rows, L] (key, index)
@group(0) @binding(2) var<storage, read_write> list_idx: array<u32>;  // [lists, lcap]
@group(0) @binding(3) var<storage, read_write> list_score: array<f32>;
@group(0) @binding(4) var<storage, read_write> list_len: array<u32>;
@group(0) @binding(5) var<uniform> p: Params;

// One histogram bin per thread in resolve(), hence exactly 256 threads.
const WG = 256u;

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> digits: array<u32, 4096>; // [16 digits, WG threads]
var<workgroup> scan_buf: array<u32, WG>;
var<workgroup> found: vec2<u32>;

// f16 bits -> u16 whose unsigned order is the order of the values.
fn order_key(h: u32) -> u32 {
  return select(h | 0x8000u, ~h & 0xffffu, (h & 0x8000u) != 0u);
}
fn score_of(key: u32) -> f32 {
  let h = select(~key & 0xffffu, key & 0x7fffu, (key & 0x8000u) != 0u);
  return unpack_h2(h).x;
}
fn key_at(row: u32, n: u32) -> u32 {
  return order_key((scores[row * p.words + (n >> 1u)] >> ((n & 1u) * 16u)) & 0xffffu);
}

// Exclusive prefix sum of v over the workgroup, and the total.
fn scan(lid: u32, v: u32) -> vec2<u32> {
  scan_buf[lid] = v;
  workgroupBarrier();
  for (var off = 1u; off < WG; off <<= 1u) {
    var add = 0u;
    if (lid >= off) { add = scan_buf[lid - off]; }
    workgroupBarrier();
    scan_buf[lid] += add;
    workgroupBarrier();
  }
  let r = vec2<u32>(scan_buf[lid] - v, scan_buf[WG - 1u]);
  workgroupBarrier();
  return r;
}

// The bin holding the r-th largest key (r >= 1) of the 256-bin histogram, and the count above it.
fn resolve(lid: u32, r: u32) -> vec2<u32> {
  let c = atomicLoad(&hist[255u - lid]);
  let above = scan(lid, c).x;
  if (above < r && r <= above + c) { found = vec2<u32>(255u - lid, above); }
  return workgroupUniformLoad(&found);
}

fn clear_hist(lid: u32) {
  atomicStore(&hist[lid], 0u);
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x;
  clear_hist(lid);
  for (var n = lid; n < p.keys; n += WG) { atomicAdd(&hist[key_at(row, n) >> 8u], 1u); }
  workgroupBarrier();
  let hi = resolve(lid, p.L);
  clear_hist(lid);
  for (var n = lid; n < p.keys; n += WG) {
    let k = key_at(row, n);
    if ((k >> 8u) == hi.x) { atomicAdd(&hist[k & 255u], 1u); }
  }
  workgroupBarrier();
  let lo = resolve(lid, p.L - hi.y);
  let t = (hi.x << 8u) | lo.x;
  let need_eq = p.L - hi.y - lo.y;

  // Compaction in index order.
  let seg = (p.keys + WG - 1u) / WG;
  let first = min(lid * seg, p.keys);
  let last = min(first + seg, p.keys);
  var gt = 0u;
  var eq = 0u;
  for (var n = first; n < last; n++) {
    let k = key_at(row, n);
    gt += u32(k > t);
    eq += u32(k == t);
  }
  let gt_before = scan(lid, gt).x;
  var eq_seen = scan(lid, eq).x;
  var out = gt_before + min(eq_seen, need_eq);
  let base = row * p.L;
  for (var n = first; n < last; n++) {
    let k = key_at(row, n);
    var take = k > t;
    if (k == t) { take = eq_seen < need_eq; eq_seen++; }
    if (take) { tmp[base + out] = vec2<u32>(k, n); out++; }
  }
  storageBarrier();

  // Stable LSD radix sort, descending: digit 15 - nibble, ping-pong between the two halves of tmp.
  let seg2 = (p.L + WG - 1u) / WG;
  let f2 = min(lid * seg2, p.L);
  let l2 = min(f2 + seg2, p.L);
  let half = p.rows * p.L;
  for (var sweep = 0u; sweep < 4u; sweep++) {
    let src = (sweep & 1u) * half + base;
    let dst = (1u - (sweep & 1u)) * half + base;
    let shift = sweep * 4u;
    // Zeroed explicitly: lavapipe does not re-zero a private array declared inside a loop.
    var cnt: array<u32, 16>;
    for (var dg = 0u; dg < 16u; dg++) { cnt[dg] = 0u; }
    for (var e = f2; e < l2; e++) { cnt[15u - ((tmp[src + e].x >> shift) & 15u)]++; }
    for (var dg = 0u; dg < 16u; dg++) { digits[dg * WG + lid] = cnt[dg]; }
    workgroupBarrier();
    // Exclusive scan of digits[] in (digit, thread) order: thread lid owns 16 consecutive entries.
    var local_sum = 0u;
    for (var i = 0u; i < 16u; i++) { local_sum += digits[lid * 16u + i]; }
    var run = scan(lid, local_sum).x;
    for (var i = 0u; i < 16u; i++) {
      let v = digits[lid * 16u + i];
      digits[lid * 16u + i] = run;
      run += v;
    }
    workgroupBarrier();
    var off: array<u32, 16>;
    for (var dg = 0u; dg < 16u; dg++) { off[dg] = digits[dg * WG + lid]; }
    for (var e = f2; e < l2; e++) {
      let v = tmp[src + e];
      let dg = 15u - ((v.x >> shift) & 15u);
      let o = off[dg];
      off[dg] = o + 1u;
      if (sweep < 3u) {
        tmp[dst + o] = v;
      } else {
        let at = (p.list0 + row) * p.lcap + o;
        list_idx[at] = v.y;
        list_score[at] = score_of(v.x);
      }
    }
    storageBarrier();
  }
  if (lid == 0u) { list_len[p.list0 + row] = p.L; }
}
