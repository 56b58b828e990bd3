// Token embedding: out[t, :] = table[ids[t], :] as f32. A table larger than one binding comes in row
// ranges, one dispatch each: this one fills the tokens whose id is in [row0, row0 + rows).

struct Params { H: u32, row0: u32, rows: u32 }

@group(0) @binding(0) var<storage, read> ids: array<u32>;            // [T]
@group(0) @binding(1) var<storage, read> table: array<u32>;          // f16 [rows, H], from row0
@group(0) @binding(2) var<storage, read_write> out: array<vec2<f32>>; // [T, H]
@group(0) @binding(3) var<uniform> p: Params;

override WG: u32 = 256;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let pairs = p.H / 2u;
  let j = gid.x;
  let t = gid.y;
  let row = ids[t] - p.row0; // ids below row0 wrap around to huge values
  if (j < pairs && row < p.rows) {
    out[t * pairs + j] = unpack_h2(table[row * pairs + j]);
  }
}
