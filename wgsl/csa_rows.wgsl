// CSA sub-vectors: rows (token t, head h) of queries or keys, split into m sub-vectors of ds dims,
// optionally un-rotated (RoPE by -position, HF rotate-half layout) and normalised per sub-vector.
// Output [m, rows, ds] with row r = t * heads + h, and each sub-vector's norm [m, rows].
// With KEYS the source is the f16 KV cache [Hkv, capacity, d]; otherwise f32 [T, src_heads, d].
// Token t of the dispatch is at position tok0 + t; a key row is read at its position, a query row
// at t (the query buffer holds only the rows asked for: a long prefill's queries are bound a slice
// of tokens at a time, each writing rows row0 + r of the out_rows rows of the output).
struct Params {
  tokens: u32,
  tok0: u32,
  row0: u32,
  out_rows: u32,
  heads: u32,
  head0: u32,
  src_heads: u32,
  capacity: u32,
  d: u32,
  unrope: u32,
  normalize: u32,
}

#if KEYS
@group(0) @binding(0) var<storage, read> src: array<u32>;
#else
@group(0) @binding(0) var<storage, read> src: array<f32>;
#endif
@group(0) @binding(1) var<storage, read> inv_freq: array<f32>;
@group(0) @binding(2) var<storage, read_write> sub: array<f32>;
@group(0) @binding(3) var<storage, read_write> norms: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

override WG: u32 = 64;
// The sub-vector length (d / m) as a pipeline constant: loops of constant length keep v in
// registers and issue the row's loads together (with a run-time length v lands in local memory).
override DS: u32 = 1u;
const MAX_DS = 64u;

fn elem(t: u32, h: u32, i: u32) -> f32 {
#if KEYS
  let e = (h * p.capacity + t) * p.d + i;
  let w = unpack_h2(src[e >> 1u]);
  return select(w.x, w.y, (e & 1u) == 1u);
#else
  return src[(t * p.src_heads + h) * p.d + i];
#endif
}

#include unrope

// Element i of the row as attention sees it, or rotated back by -pos (the model rotated by +pos).
fn value(t: u32, h: u32, pos: u32, i: u32) -> f32 {
  let x = elem(t, h, i);
  if (p.unrope == 0u) { return x; }
  let half = p.d / 2u;
  return unrope(x, elem(t, h, partner(i, half)), i, half, pos);
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let rows = p.tokens * p.heads;
  let r = gid.x;
  let j = gid.y;
  if (r >= rows) { return; }
  let tt = r / p.heads;
  let h = p.head0 + r % p.heads;
  let pos = p.tok0 + tt;
#if KEYS
  let t = pos;
#else
  let t = tt;
#endif
  let out_row = j * p.out_rows + p.row0 + r;
  let o = out_row * DS;
  // Values first, then stores: the loads do not wait behind the stores.
  var v: array<f32, MAX_DS>;
  var ss = 0.0;
  for (var i = 0u; i < DS; i++) {
    v[i] = value(t, h, pos, j * DS + i);
    ss += v[i] * v[i];
  }
  let norm = sqrt(ss);
  norms[out_row] = norm;
  let inv = select(1.0, 1.0 / norm, p.normalize == 1u && norm > 0.0);
  for (var i = 0u; i < DS; i++) { sub[o + i] = v[i] * inv; }
}
