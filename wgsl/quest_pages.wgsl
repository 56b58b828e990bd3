// Quest page bounds: per KV head and page of page_size context keys (the last page may be short),
// the per-dimension minimum and maximum of its keys. Output f16 pairs [Hkv, pages, 2, d/2]: the
// page's min row, then its max row (both exact: they are cache values).
struct Params { keys: u32, pages: u32, page_size: u32, capacity: u32, words: u32 }
@group(0) @binding(0) var<storage, read> kc: array<u32>;            // [Hkv, capacity, d] f16
@group(0) @binding(1) var<storage, read_write> bounds: array<u32>;  // [Hkv, pages, 2, words]
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  let h = gid.y;
  if (i >= p.pages * p.words) { return; }
  let page = i / p.words;
  let w = i % p.words;
  let first = page * p.page_size;
  let last = min(first + p.page_size, p.keys);
  var lo = unpack_h2(kc[(h * p.capacity + first) * p.words + w]);
  var hi = lo;
  for (var t = first + 1u; t < last; t++) {
    let k = unpack_h2(kc[(h * p.capacity + t) * p.words + w]);
    lo = min(lo, k);
    hi = max(hi, k);
  }
  let o = (h * p.pages + page) * 2u * p.words + w;
  bounds[o] = pack_h2(lo);
  bounds[o + p.words] = pack_h2(hi);
}
