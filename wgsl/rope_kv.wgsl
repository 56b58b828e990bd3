// RoPE for a chunk of T tokens at positions step.pos + t (HF rotate_half: element i pairs with
// i + d/2, rotated by pos · invFreq[i]) on the fused q/k/v projection: q, rotated, goes to q; k,
// rotated, and v are written into the caches [Hkv, capacity, d]: as f16, or with KV_Q8 as int8 rows
// with one scale each (model/kvcache.ts; the scale an f16 value, f16(max |row| / 127), stored as
// f32). With QK_NORM (Qwen3), each head vector is first RMS-normalised with the q or k norm weight.
// One workgroup per (head, token): q heads first, then kv heads (their order in a qkv row too).
// BATCH: token t is the next token of sequence t of a batch, at position seq_pos[t]; a position
// p >= ctx of sequence t is written at row p + (t + 1)·room (src/ops/attention.ts, BatchRows).

struct Params { Hq: u32, Hkv: u32, d: u32, capacity: u32, eps: f32, zero: u32, ctx: u32, room: u32 } // zero: always 0 (row_scale)
struct Step { pos: u32 }

@group(0) @binding(0) var<storage, read> qkv: array<f32>;       // [T, (Hq + 2·Hkv)·d]: q, k, v heads
@group(0) @binding(1) var<storage, read_write> q: array<f32>;   // [T, Hq, d]
@group(0) @binding(2) var<storage, read_write> k_cache: array<u32>; // f16 (or int8) [Hkv, capacity, d]
@group(0) @binding(3) var<storage, read_write> v_cache: array<u32>;
@group(0) @binding(4) var<storage, read> inv_freq: array<f32>;  // [d/2]
#if BATCH
@group(0) @binding(5) var<storage, read> seq_pos: array<u32>;  // [T]
fn position(t: u32) -> u32 { return seq_pos[t]; }
#else
@group(0) @binding(5) var<uniform> step: Step;
fn position(t: u32) -> u32 { return step.pos + t; }
#endif
#if QK_NORM
@group(0) @binding(6) var<storage, read> q_norm: array<u32>;    // f16 [d]
@group(0) @binding(7) var<storage, read> k_norm: array<u32>;    // f16 [d]
@group(0) @binding(8) var<uniform> p: Params;
#else
@group(0) @binding(6) var<uniform> p: Params;
#endif
#if KV_Q8
@group(0) @binding(9) var<storage, read_write> k_scale: array<f32>; // [Hkv, capacity]
@group(0) @binding(10) var<storage, read_write> v_scale: array<f32>;
#endif

override WG: u32 = 64; // a power of two
const MAX_D = 512u;

var<workgroup> rotated: array<f32, MAX_D>;

#include thread
#include reduce

#if QK_NORM
fn norm_weight(i: u32, is_k: bool) -> f32 {
  return unpack_h2(select(q_norm[i / 2u], k_norm[i / 2u], is_k))[i % 2u];
}
#endif

// 2π = 6.28125 + 0.0019378662109375 − 2.559031e-6: the first two parts have 8 significant bits, so
// n · part is exact for n < 2^16 turns (angles up to 4·10^5 rad).
const TWO_PI_A = 6.28125;
const TWO_PI_B = 0.0019378662109375;
const TWO_PI_C = -2.559031372584286e-06;

// cos and sin of an f32 angle that can reach ~10^5 rad (position × frequency): GPU sin/cos lose
// accuracy far from zero, so the angle is first reduced to [-π, π] (Cody–Waite).
fn cos_sin(angle: f32) -> vec2<f32> {
  let n = round(angle * 0.15915494309189535);
  let r = ((angle - n * TWO_PI_A) - n * TWO_PI_B) - n * TWO_PI_C;
  return vec2(cos(r), sin(r));
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let pos = position(t);
  let half = p.d / 2u;
  let is_k = h >= p.Hq;
  let row = t * (p.Hq + 2u * p.Hkv) * p.d;  // token t's q/k/v row
  let base = row + h * p.d;                  // head h (q, then k) in it

#if QK_NORM
  var ss = 0.0;
  for (var i = lid; i < p.d; i += WG) {
    let v = qkv[base + i];
    ss += v * v;
  }
  let scale = inverseSqrt(wg_tree(ss, lid, false) / f32(p.d) + p.eps); // one small sum per head: a tree will do
#endif
  let out = (t * p.Hq + h) * p.d;
  for (var i = lid; i < half; i += WG) {
    var a = qkv[base + i];
    var b = qkv[base + i + half];
#if QK_NORM
    a *= scale * norm_weight(i, is_k);
    b *= scale * norm_weight(i + half, is_k);
#endif
    let cs = cos_sin(f32(pos) * inv_freq[i]);
    let ra = a * cs.x - b * cs.y;
    let rb = b * cs.x + a * cs.y;
    if (is_k) {
      rotated[i] = ra;
      rotated[i + half] = rb;
    } else {
      q[out + i] = ra;
      q[out + i + half] = rb;
    }
  }
  // The caller keeps positions inside the cache; never write past this layer's cache regardless.
  let at = pos + select(0u, (t + 1u) * p.room, pos >= p.ctx); // its cache row
  if (!is_k || at >= p.capacity) { return; }
  workgroupBarrier();
  write_rows((h - p.Hq) * p.capacity + at, base + p.Hkv * p.d, lid);
}

#if KV_Q8
#include q8

// The scale of a row whose largest magnitude is amax: an f16 value (what a bundle stores). OR-ing a
// uniform 0 keeps the compiler from folding unpack(pack(x)) back to the f32 x (lavapipe does).
fn row_scale(amax: f32) -> f32 {
  return unpack_h2(pack_h2(vec2(amax / 127.0, 0.0)) | p.zero).x;
}

fn quantized(x: vec4<f32>, inv: f32) -> u32 {
  let b = vec4<u32>(vec4<i32>(clamp(round(x * inv), vec4(-127.0), vec4(127.0)))) & vec4(0xffu);
  return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u);
}

// Row `row` of the caches: K from `rotated`, V from qkv[v_base ..], as int8 with their scales.
fn write_rows(row: u32, v_base: u32, lid: u32) {
  var kmax = 0.0;
  var vmax = 0.0;
  for (var i = lid; i < p.d; i += WG) {
    kmax = max(kmax, abs(rotated[i]));
    vmax = max(vmax, abs(qkv[v_base + i]));
  }
  let ks = row_scale(wg_tree(kmax, lid, true));
  let vs = row_scale(wg_tree(vmax, lid, true));
  let at = row * (p.d / 4u);
  for (var j = lid; j < p.d / 4u; j += WG) {
    let i = 4u * j;
    k_cache[at + j] = quantized(vec4(rotated[i], rotated[i + 1u], rotated[i + 2u], rotated[i + 3u]), select(0.0, 1.0 / ks, ks > 0.0));
    v_cache[at + j] = quantized(vec4(qkv[v_base + i], qkv[v_base + i + 1u], qkv[v_base + i + 2u], qkv[v_base + i + 3u]), select(0.0, 1.0 / vs, vs > 0.0));
  }
  if (lid == 0u) {
    k_scale[row] = ks;
    v_scale[row] = vs;
  }
}
#else
// Row `row` of the caches: K from `rotated`, V from qkv[v_base ..], as f16.
fn write_rows(row: u32, v_base: u32, lid: u32) {
  let at = row * (p.d / 2u); // in f16 pairs
  for (var j = lid; j < p.d / 2u; j += WG) {
    k_cache[at + j] = pack_h2(vec2(rotated[2u * j], rotated[2u * j + 1u]));
    v_cache[at + j] = pack_h2(vec2(qkv[v_base + 2u * j], qkv[v_base + 2u * j + 1u]));
  }
}
#endif
