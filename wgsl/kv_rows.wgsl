// The first `keys` rows of a KV cache as f32 rows [keys, Hkv, d] (the layout of prefill queries),
// so that the CSA table build can cluster keys as it clusters queries.
struct Params { keys: u32, Hkv: u32, capacity: u32, words: u32 }
@group(0) @binding(0) var<storage, read> kc: array<u32>;              // [Hkv, capacity, d] f16
@group(0) @binding(1) var<storage, read_write> rows: array<vec2<f32>>; // [keys, Hkv, d]
@group(0) @binding(2) var<uniform> p: Params;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let h = gid.y;
  if (t >= p.keys) { return; }
  let src = (h * p.capacity + t) * p.words;
  let dst = (t * p.Hkv + h) * p.words;
  for (var w = 0u; w < p.words; w++) { rows[dst + w] = unpack_h2(kc[src + w]); }
}
