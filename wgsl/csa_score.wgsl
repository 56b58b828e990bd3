// Decode step, 2: gather-and-sum of the chosen lists into per-key scores, one workgroup per (sequence,
// tile of `tile` keys, table group: the chosen lists carry their table's list index). Lists hold their context keys in ascending order and list_tiles says
// where each tile's keys start, so a workgroup reads only its tile's entries of the chosen lists (4
// bytes each: f16 score bits << 16 | key mod tile, see csa_list_index) and adds them up in workgroup
// memory: integer atomics make the sum exact and order-independent, and no
// global atomics are needed. Scores are fixed point: an entry adds round(score * mult),
//   mult = w * 2^(20 - e),  B = sum over the group's chosen lists of w * max|score| < 2^e
// (w and the bounds from csa_choose; every workgroup of the group sums them in the same order), so a
// key's total stays below 2^20 + (rounding) in size: the top-K works on 22 bits.
// Writes every key's score (0 for keys in no chosen list) and, when r > 0, the histogram of the high
// digit of the candidates' order keys (csa_topk's first radix pass; csa_choose cleared it) and the
// tile's candidates by that digit (by_bin, for csa_topk's CUT); the tile-0 workgroup writes the
// multipliers out.
struct Params { keys: u32, L: u32, n: u32, tiles: u32, sink_end: u32, win_start: u32, r: u32 }
@group(0) @binding(0) var<storage, read> list_entry: array<u32>;         // [lists, L]
@group(0) @binding(1) var<storage, read> list_tiles: array<u32>;         // [lists, tiles + 1]
@group(0) @binding(2) var<storage, read> choice: array<vec4<u32>>;      // [seqs, groups, n] list, w, bound
@group(0) @binding(3) var<storage, read_write> mults: array<f32>;        // [seqs, groups, n]
@group(0) @binding(4) var<storage, read_write> scores: array<i32>;       // [seqs, groups, keys]
@group(0) @binding(5) var<storage, read_write> hist: array<atomic<u32>>; // [seqs, groups, 2, BINS]
@group(0) @binding(6) var<uniform> p: Params;
@group(0) @binding(7) var<storage, read_write> by_bin: array<u32>;       // [seqs, groups, tiles, BINS + TILE]

const WG = 256u; // n <= 256 chosen lists per group
override TILE: u32 = 2048u; // keys per tile of the tables' index

#include order_key
#include scan_u32x2

// The chosen lists' entries of the tile, end to end, are the workgroup's flat entries [0, total):
// list i's are [start[i], start[i + 1]), entry e of them is list_entry[base[i] + e]. Each thread
// takes every WG-th flat entry, 16 at a time: its 16 loads in flight together, then their atomics
// (loads after an atomic wait for it: 2.2x slower, measured on the H100). A list holds about
// L / tiles entries of a tile (205 for 10% of the keys in tiles of 2048), so a workgroup's 64
// lists are ~13K entries, ~52 a thread: four rounds of loads, whatever the lists' lengths.
var<workgroup> start: array<u32, WG + 1>;
var<workgroup> base: array<u32, WG>;
var<workgroup> mult: array<f32, WG>;
var<workgroup> bound: array<f32, WG>;
var<workgroup> scale: f32;
// Workgroup memory starts zeroed (WGSL).
var<workgroup> acc: array<atomic<i32>, TILE>;
var<workgroup> local_hist: array<atomic<u32>, BINS>;

// Flat entries e + i WG (i < 4, clamped to the last): where they are, and their lists' indices
// (the cursor c only moves forward: a thread's entries ascend).
struct Four { at: vec4<u32>, list: vec4<u32> }
fn locate4(e: u32, total: u32, c: ptr<function, u32>) -> Four {
  var r: Four;
  for (var i = 0u; i < 4u; i++) {
    let x = min(e + i * WG, total - 1u);
    while (start[*c + 1u] <= x) { *c += 1u; }
    r.list[i] = *c;
    r.at[i] = base[*c] + x;
  }
  return r;
}

fn load4(at: vec4<u32>) -> vec4<u32> {
  return vec4<u32>(list_entry[at.x], list_entry[at.y], list_entry[at.z], list_entry[at.w]);
}

// Adds the loaded entries x of flat entries e + i WG (those below total) to acc.
fn add4(e: u32, total: u32, x: vec4<u32>, f: Four) {
  for (var i = 0u; i < 4u; i++) {
    let v = i32(round(unpack_h2(x[i]).y * mult[f.list[i]]));
    if (e + i * WG < total && v != 0) { atomicAdd(&acc[x[i] & 0xffffu], v); }
  }
}

// The tile's candidates by the high digit of their order keys (a counting sort on the histogram),
// at by_bin[rec ..]: [0, BINS) how many have a high digit >= b; then their low digits, the highest
// high digit first (bin b's at [ge(b + 1), ge(b)), in no particular order). csa_topk's CUT finds the
// keys above the threshold's bin in the tiles before its own and the low digits in that bin there.
fn sort_tile(t: u32, rec: u32, k0: u32) {
  workgroupBarrier(); // flush_hist has read local_hist
  let top = BINS - 8u * t; // thread t's bins: top - 8 .. top - 1
  var h: array<u32, 8>;
  var c = 0u;
  for (var i = 0u; i < 8u; i++) { h[i] = atomicLoad(&local_hist[top - 1u - i]); c += h[i]; }
  var above = scan(t, vec2<u32>(c, 0u)).before.x;
  for (var i = 0u; i < 8u; i++) {
    let b = top - 1u - i;
    atomicStore(&local_hist[b], above); // bin b's next free slot
    above += h[i];
    by_bin[rec + b] = above;
  }
  workgroupBarrier();
  for (var i = t; i < TILE; i += WG) {
    let k = k0 + i;
    if (k < p.keys && k >= p.sink_end && k < p.win_start) {
      let u = order_of(atomicLoad(&acc[i]));
      by_bin[rec + BINS + atomicAdd(&local_hist[u >> 11u], 1u)] = u & 2047u;
    }
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  // Grid (sequences, tiles, groups): a batch's workgroups of one tile and table group run side by
  // side, so the lists that several questions chose come from L2 for all but the first.
  let tile = wid.y;
  let grp = wid.x * nw.z + wid.z;
  let k0 = tile * TILE;
  var mine = vec3<u32>(0u); // list, w bits, first entry of the tile
  if (t < p.n) {
    let c = choice[grp * p.n + t];
    let at = c.x * (p.tiles + 1u) + tile;
    mine = vec3<u32>(c.x, c.y, list_tiles[at]);
    start[t] = list_tiles[at + 1u] - mine.z; // its length, until thread 0 turns lengths into starts
    bound[t] = bitcast<f32>(c.z);
  }
  workgroupBarrier();
  if (t == 0u) {
    var b = 0.0;
    var s = 0u;
    for (var i = 0u; i < p.n; i++) {
      b += bound[i];
      let len = start[i];
      start[i] = s;
      s += len;
    }
    start[p.n] = s;
    scale = ldexp(1.0, clamp(20 - frexp(b).exp, -126, 126));
  }
  workgroupBarrier();
  if (t < p.n) {
    let m = bitcast<f32>(mine.y) * scale;
    mult[t] = m;
    base[t] = mine.x * p.L + mine.z - start[t]; // u32 arithmetic wraps: base + e is the entry
    if (tile == 0u) { mults[grp * p.n + t] = m; }
  }
  workgroupBarrier();
  let total = start[p.n];
  var c = 0u;
  for (var e = t; e < total; e += 16u * WG) {
    let f0 = locate4(e, total, &c);
    let f1 = locate4(e + 4u * WG, total, &c);
    let f2 = locate4(e + 8u * WG, total, &c);
    let f3 = locate4(e + 12u * WG, total, &c);
    let x0 = load4(f0.at);
    let x1 = load4(f1.at);
    let x2 = load4(f2.at);
    let x3 = load4(f3.at);
    add4(e, total, x0, f0);
    add4(e + 4u * WG, total, x1, f1);
    add4(e + 8u * WG, total, x2, f2);
    add4(e + 12u * WG, total, x3, f3);
  }
  workgroupBarrier();
  for (var i = t; i < TILE; i += WG) {
    let k = k0 + i;
    if (k < p.keys) {
      let v = atomicLoad(&acc[i]);
      scores[grp * p.keys + k] = v;
      if (p.r > 0u && k >= p.sink_end && k < p.win_start) { atomicAdd(&local_hist[order_of(v) >> 11u], 1u); }
    }
  }
  workgroupBarrier();
  flush_hist(t, grp * 2u * BINS);
  if (p.r > 0u) { sort_tile(t, (grp * p.tiles + tile) * (BINS + TILE), k0); }
}
