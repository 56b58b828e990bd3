// The index that csa_score reads a list by (one workgroup per list; lists in ascending key order):
//   tiles  where each tile of `tile` keys starts among the list's entries, [tiles + 1] per list (the
//          last is the entry count)
//   bound  max |score| of the entries, which sets csa_score's fixed point
//   entry  each entry's f16 score bits (as the build or a bundle left them) become
//          bits << 16 | key mod tile: csa_score reads one 4-byte array, and knows the tile's first key
// faults[0] turns nonzero if a list is out of key order or holds keys past the context: in tables
// fresh from a bundle, a corrupt file.
struct Params { lists: u32, L: u32, tiles: u32, tile: u32, nx: u32, keys: u32 }
@group(0) @binding(0) var<storage, read> list_idx: array<u32>;          // [lists, L]
@group(0) @binding(1) var<storage, read_write> list_entry: array<u32>;
@group(0) @binding(2) var<storage, read> list_len: array<u32>;          // [lists]
@group(0) @binding(3) var<storage, read_write> list_tiles: array<u32>;  // [lists, tiles + 1]
@group(0) @binding(4) var<storage, read_write> list_bound: array<f32>;  // [lists]
@group(0) @binding(5) var<storage, read_write> faults: array<atomic<u32>>;   // [1]
@group(0) @binding(6) var<uniform> p: Params;

const WG = 64u;
var<workgroup> hi: array<f32, WG>;

// The first entry of [0, len) whose key is at least `key` (len if none).
fn lower_bound(base: u32, len: u32, key: u32) -> u32 {
  var a = 0u;
  var b = len;
  while (a < b) {
    let mid = (a + b) / 2u;
    if (list_idx[base + mid] < key) { a = mid + 1u; } else { b = mid; }
  }
  return a;
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let list = wid.y * p.nx + wid.x;
  if (list >= p.lists) { return; }
  let base = list * p.L;
  let all = list_len[list];
  let len = lower_bound(base, all, p.keys);
  var sound = len == all;
  var mx = 0.0;
  for (var e = lid; e < len; e += WG) {
    sound = sound && (e == 0u || list_idx[base + e - 1u] < list_idx[base + e]);
    let bits = list_entry[base + e];
    mx = max(mx, abs(unpack_h2(bits).x));
    list_entry[base + e] = (bits << 16u) | (list_idx[base + e] % p.tile);
  }
  if (!sound) { atomicAdd(&faults[0], 1u); }
  hi[lid] = mx;
  for (var t = lid; t <= p.tiles; t += WG) { list_tiles[list * (p.tiles + 1u) + t] = lower_bound(base, len, min(t * p.tile, p.keys)); }
  for (var half = WG / 2u; half > 0u; half /= 2u) {
    workgroupBarrier();
    if (lid < half) { hi[lid] = max(hi[lid], hi[lid + half]); }
  }
  if (lid == 0u) { list_bound[list] = hi[0]; }
}
