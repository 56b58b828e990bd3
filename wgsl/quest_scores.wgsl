// Quest page scores: for query head h and page P, the upper bound of q·k over the page's keys,
// sum_i max(q_i * min_i, q_i * max_i), as the fixed-point score csa_topk ranks
// (round(clamp(bound, ±limit) * scale)), written to every context key of the page.
struct Params { keys: u32, pages: u32, page_size: u32, Hq: u32, Hkv: u32, words: u32, limit: f32, scale: f32 }
@group(0) @binding(0) var<storage, read> q: array<vec2<f32>>;      // [Hq, d] f32
@group(0) @binding(1) var<storage, read> bounds: array<u32>;       // [Hkv, pages, 2, words] f16
@group(0) @binding(2) var<storage, read_write> scores: array<i32>; // [Hq, keys]
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let page = gid.x;
  let h = gid.y;
  if (page >= p.pages) { return; }
  let kvh = h / (p.Hq / p.Hkv);
  let o = (kvh * p.pages + page) * 2u * p.words;
  var s = 0.0;
  for (var w = 0u; w < p.words; w++) {
    let x = q[h * p.words + w];
    let v = max(x * unpack_h2(bounds[o + w]), x * unpack_h2(bounds[o + p.words + w]));
    s += v.x + v.y;
  }
  let score = i32(round(clamp(s, -p.limit, p.limit) * p.scale));
  let first = page * p.page_size;
  for (var t = first; t < min(first + p.page_size, p.keys); t++) { scores[h * p.keys + t] = score; }
}
