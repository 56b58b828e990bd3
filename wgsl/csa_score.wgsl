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
// digit of the candidates' order keys (csa_topk's first radix pass), clearing the low digit's; the
// tile-0 workgroup writes the multipliers out.
struct Params { keys: u32, L: u32, n: u32, tiles: u32, sink_end: u32, win_start: u32, r: u32 }
@group(0) @binding(0) var<storage, read> list_entry: array<u32>;         // [lists, L]
@group(0) @binding(1) var<storage, read> list_tiles: array<u32>;         // [lists, tiles + 1]
@group(0) @binding(2) var<storage, read> choice: array<vec4<u32>>;      // [seqs, groups, n] list, w, bound
@group(0) @binding(3) var<storage, read_write> mults: array<f32>;        // [seqs, groups, n]
@group(0) @binding(4) var<storage, read_write> scores: array<i32>;       // [seqs, groups, keys]
@group(0) @binding(5) var<storage, read_write> hist: array<atomic<u32>>; // [seqs, groups, 2, BINS]
@group(0) @binding(6) var<uniform> p: Params;

const WG = 256u; // n <= 256 chosen lists per group
override TILE: u32 = 2048u; // keys per tile of the tables' index
// A team of threads reads one list's tile side by side, 8 entries each in flight (a list holds
// about L / tiles entries of a tile: 205 for 128K keys at 10% in tiles of 2048).
const TEAM = 32u;

#include order_key

var<workgroup> lists: array<vec4<u32>, WG>; // list, mult bits, first entry, end
var<workgroup> bound: array<f32, WG>;
var<workgroup> scale: f32;
// Workgroup memory starts zeroed (WGSL).
var<workgroup> acc: array<atomic<i32>, TILE>;
var<workgroup> local_hist: array<atomic<u32>, BINS>;

fn entry4(base: u32, x: vec4<u32>) -> vec4<u32> {
  return vec4<u32>(list_entry[base + x.x], list_entry[base + x.y], list_entry[base + x.z], list_entry[base + x.w]);
}

fn add(entry: u32, mult: f32, live: bool) {
  let v = i32(round(unpack_h2(entry).y * mult));
  if (live && v != 0) { atomicAdd(&acc[entry & 0xffffu], v); }
}

// Adds entries e + c TEAM (c < 8; those before end) of a list to acc: all 8 loads first, then the
// atomics (loads after an atomic wait for it: 2.2x slower, measured on the H100).
fn add8(base: u32, e: u32, end: u32, mult: f32) {
  let x = min(vec4<u32>(e, e + TEAM, e + 2u * TEAM, e + 3u * TEAM), vec4<u32>(end - 1u));
  let y = min(x + vec4<u32>(4u * TEAM), vec4<u32>(end - 1u));
  let a = entry4(base, x);
  let b = entry4(base, y);
  for (var c = 0u; c < 4u; c++) {
    add(a[c], mult, e + c * TEAM < end);
    add(b[c], mult, e + (c + 4u) * TEAM < end);
  }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  // Grid (sequences, tiles, groups): a batch's workgroups of one tile and table group run side by
  // side, so the lists that several questions chose come from L2 for all but the first.
  let tile = wid.y;
  let grp = wid.x * nw.z + wid.z;
  let k0 = tile * TILE;
  if (t < p.n) {
    let c = choice[grp * p.n + t];
    let at = c.x * (p.tiles + 1u) + tile;
    lists[t] = vec4<u32>(c.x, c.y, list_tiles[at], list_tiles[at + 1u]);
    bound[t] = bitcast<f32>(c.z);
  }
  workgroupBarrier();
  if (t == 0u) {
    var b = 0.0;
    for (var i = 0u; i < p.n; i++) { b += bound[i]; }
    scale = ldexp(1.0, clamp(20 - frexp(b).exp, -126, 126));
  }
  workgroupBarrier();
  if (t < p.n) {
    let mult = bitcast<f32>(lists[t].y) * scale;
    lists[t].y = bitcast<u32>(mult);
    if (tile == 0u) { mults[grp * p.n + t] = mult; }
  }
  workgroupBarrier();
  for (var i = t / TEAM; i < p.n; i += WG / TEAM) {
    let l = lists[i];
    for (var e = l.z + t % TEAM; e < l.w; e += 8u * TEAM) { add8(l.x * p.L, e, l.w, bitcast<f32>(l.y)); }
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
  clear_hist(t, (grp * 2u + 1u) * BINS, tile, p.tiles);
}
