// A q8 KV layer (int8 rows, one f32 scale per (head, position): model/kvcache.ts) back to f16 rows
// of the same [Hkv, capacity, d] layout, for the kernels that read f16 (the tensor-core prefill
// attention, table builds). Rows [0, n) of KV head wid.y, n = rows if set, else step.pos + T (the
// keys of a prefill chunk at step.pos); the workgroups of a head loop over its words.
struct Params { Hkv: u32, capacity: u32, words: u32, T: u32, rows: u32 } // words: int8 words a row (d / 4)
struct Step { pos: u32 }

@group(0) @binding(0) var<storage, read> kq: array<u32>;          // int8 [Hkv, capacity, d]
@group(0) @binding(1) var<storage, read> vq: array<u32>;
@group(0) @binding(2) var<storage, read> k_scale: array<f32>;     // [Hkv, capacity]
@group(0) @binding(3) var<storage, read> v_scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> k16: array<u32>;   // f16 [Hkv, capacity, d]
@group(0) @binding(5) var<storage, read_write> v16: array<u32>;
@group(0) @binding(6) var<uniform> step: Step;
@group(0) @binding(7) var<uniform> p: Params;

#include q8

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let n = min(select(step.pos + p.T, p.rows, p.rows != 0u), p.capacity);
  let head = gid.y;
  for (var i = gid.x; i < n * p.words; i += nwg.x * 256u) {
    let w = head * p.capacity * p.words + i;
    let row = head * p.capacity + i / p.words;
    let k = i8x4(kq[w]) * k_scale[row];
    let v = i8x4(vq[w]) * v_scale[row];
    k16[2u * w] = pack_h2(k.xy);
    k16[2u * w + 1u] = pack_h2(k.zw);
    v16[2u * w] = pack_h2(v.xy);
    v16[2u * w + 1u] = pack_h2(v.zw);
  }
}
