// csattn doctor, tensor cores (MMA and F16 defines): one 16 x 16 x 16 product as matmul_mma.wgsl
// makes it, y = a · bᵀ for f16 a and b [16][16] row-major (b is read column-major: it is bᵀ),
// staged through workgroup memory; y f32 [16][16]. One subgroup of 32.
@group(0) @binding(0) var<storage, read> a: array<u32>;   // f16 pairs
@group(0) @binding(1) var<storage, read> b: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

var<workgroup> at: array<f16, 256>;
var<workgroup> bt: array<f16, 256>;
var<workgroup> yt: array<f32, 256>;

@compute @workgroup_size(32)
fn main(@builtin(local_invocation_index) lid: u32) {
  for (var i = lid; i < 128u; i += 32u) {
    let ha = bitcast<vec2<f16>>(a[i]);
    let hb = bitcast<vec2<f16>>(b[i]);
    at[2u * i] = ha.x; at[2u * i + 1u] = ha.y;
    bt[2u * i] = hb.x; bt[2u * i + 1u] = hb.y;
  }
  workgroupBarrier();
  let l = subgroupMatrixLoad<subgroup_matrix_left<f16, 16, 16>, row_major>(&at, 0u, 16u);
  let r = subgroupMatrixLoad<subgroup_matrix_right<f16, 16, 16>, col_major>(&bt, 0u, 16u);
  let c = subgroupMatrixMultiplyAccumulate(l, r, subgroup_matrix_result<f32, 16, 16>());
  subgroupMatrixStore<row_major>(&yt, 0u, c, 16u);
  workgroupBarrier();
  for (var i = lid; i < 256u; i += 32u) { y[i] = yt[i]; }
}
