// The union of a batch's selections over their shared context, so that a tensor-core workgroup of
// every sequence's query rows reads each selected K/V row once (attention_prefill_mma, UNION). For
// sequences seq0 .. seq0+seqs-1 (at most 32) of a batch's selection (lists (sequence, KV head) in
// that order, each any order), per KV head: the context keys any of them selected, in ascending
// order, and for each the bits of the sequences that selected it. Three variants, a dispatch each:
//   MARK     grid (list entries / WG, Hkv, seqs): mask[kvh, key] |= 1 << s for each entry key < ctx
//            of sequence s's list (its own keys, past the context, are attended in full elsewhere);
//   COUNT    grid (chunks, Hkv): how many keys of each CHUNK-key chunk are marked;
//   SCATTER  grid (chunks, Hkv): each chunk's marked keys and their bits at its offset (the earlier
//            chunks' counts: deterministic, ascending) in keys and bits, the KV head's total in n;
//            and clears the mask it read, so that it is zero again for the next layer's MARK.
// mask starts zeroed (a new buffer) and every SCATTER leaves it so.
struct Params { Hkv: u32, kmax: u32, ctx: u32, seq0: u32, chunks: u32 }

const WG = 256u;
const PER = 16u;          // consecutive keys a thread takes in COUNT and SCATTER
const CHUNK = WG * PER;

#if MARK
@group(0) @binding(0) var<storage, read> sel: array<u32>;               // [lists, kmax]
@group(0) @binding(1) var<storage, read> counts: array<u32>;            // [lists]
@group(0) @binding(2) var<storage, read_write> mask: array<atomic<u32>>; // [Hkv, ctx]
@group(0) @binding(6) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let kvh = id.y;
  let s = id.z;
  let list = (p.seq0 + s) * p.Hkv + kvh;
  if (id.x >= min(counts[list], p.kmax)) { return; }
  let key = sel[list * p.kmax + id.x];
  if (key < p.ctx) { atomicOr(&mask[kvh * p.ctx + key], 1u << s); }
}
#endif

#if COUNT
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> chunk_n: array<u32>;     // [Hkv, chunks]
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> n: atomic<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let kvh = wg.y;
  var mine = 0u;
  for (var i = 0u; i < PER; i++) {
    let key = wg.x * CHUNK + i * WG + lid;   // coalesced
    if (key < p.ctx && mask[kvh * p.ctx + key] != 0u) { mine++; }
  }
  atomicAdd(&n, mine);
  workgroupBarrier();
  if (lid == 0u) { chunk_n[kvh * p.chunks + wg.x] = atomicLoad(&n); }
}
#endif

#if SCATTER
@group(0) @binding(2) var<storage, read_write> mask: array<u32>;
@group(0) @binding(3) var<storage, read> chunk_n: array<u32>;
@group(0) @binding(4) var<storage, read_write> keys: array<u32>;        // [Hkv, ctx] (the first n[kvh])
@group(0) @binding(5) var<storage, read_write> bits: array<u32>;        // [Hkv, ctx]
@group(0) @binding(6) var<uniform> p: Params;
@group(0) @binding(7) var<storage, read_write> n: array<u32>;           // [Hkv]

#include scan_u32x2

var<workgroup> before: atomic<u32>;

@compute @workgroup_size(WG)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
  let kvh = wg.y;
  let row = kvh * p.ctx;
  for (var c = lid; c < wg.x; c += WG) { atomicAdd(&before, chunk_n[kvh * p.chunks + c]); }
  // Thread lid owns keys [k0, k0 + PER) of the chunk, so that its marked keys follow the earlier threads'.
  let k0 = wg.x * CHUNK + lid * PER;
  var m: array<u32, PER>;
  var mine = 0u;
  for (var i = 0u; i < PER; i++) {
    let key = k0 + i;
    m[i] = select(0u, mask[row + min(key, p.ctx - 1u)], key < p.ctx);
    if (m[i] != 0u) { mine++; }
  }
  let sc = scan(lid, vec2(mine, 0u));   // its barriers also order the atomics above before this load
  var at = atomicLoad(&before) + sc.before.x;
  for (var i = 0u; i < PER; i++) {
    if (m[i] != 0u) {
      keys[row + at] = k0 + i;
      bits[row + at] = m[i];
      mask[row + k0 + i] = 0u;
      at++;
    }
  }
  if (wg.x == p.chunks - 1u && lid == 0u) { n[kvh] = atomicLoad(&before) + sc.total.x; }
}
#endif
