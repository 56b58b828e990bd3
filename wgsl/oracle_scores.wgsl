// Oracle baseline: the true attention logit q·k of every context key for every query head, as the
// fixed-point score csa_topk ranks: round(clamp(q·k, ±limit) * scale). Keys past the context are
// always attended and get no score.
struct Params { keys: u32, Hq: u32, Hkv: u32, capacity: u32, d: u32, limit: f32, scale: f32 }
@group(0) @binding(0) var<storage, read> q: array<vec2<f32>>;      // [Hq, d] f32
@group(0) @binding(1) var<storage, read> kc: array<u32>;           // [Hkv, capacity, d] f16
@group(0) @binding(2) var<storage, read_write> scores: array<i32>; // [Hq, keys]
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  let h = gid.y;
  if (t >= p.keys) { return; }
  let words = p.d / 2u;
  let kvh = h / (p.Hq / p.Hkv);
  let ko = (kvh * p.capacity + t) * words;
  var s = 0.0;
  for (var w = 0u; w < words; w++) { s += dot(q[h * words + w], unpack_h2(kc[ko + w])); }
  scores[h * p.keys + t] = i32(round(clamp(s, -p.limit, p.limit) * p.scale));
}
