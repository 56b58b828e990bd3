// The frame of a decode batch's products on tensor cores (matmul_batch_mma and its experiments):
// shapes, the x tiles (f16 [16, KP] from halves.wgsl), the two accumulators, and the entry point,
// which asks the kernel's sums() for a subgroup's accumulators of the workgroup's rows and writes
// y from their sum over the subgroups. Included after weight_product.
#requires Params sums
const SG = 8u;
const WG = 32u * SG;
const TM = 16u;          // tokens (rows of x's tiles)
#if SWIGLU
const OUT_ROWS = 16u;    // rows of y per workgroup: G's tile rows 0-15, U's 16-31
#else
const OUT_ROWS = 32u;
#endif

alias Left = subgroup_matrix_left<f16, 16, 16>;
alias Right = subgroup_matrix_right<f16, 16, 16>;
alias Acc = subgroup_matrix_result<f32, 16, 16>;

var<workgroup> part: array<f32, SG * 512u>; // [subgroup][accumulator][token][row]

// x's 16 x 16 tile at k.
fn x_tile(k: u32) -> Left {
  return subgroupMatrixLoad<Left, row_major>(&x, k, p.KP);
}

fn mma(a: Left, b: Right, c: Acc) -> Acc { return subgroupMatrixMultiplyAccumulate(a, b, c); }

// The two accumulators: tile rows 0-15 (G's with SWIGLU) and 16-31 (U's).
struct Sums { c0: Acc, c1: Acc }

// The kernel's: subgroup sg's sums for the workgroup's tile rows from rb (thread lid of the workgroup).
//   fn sums(rb: u32, sg: u32, lid: u32) -> Sums

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>, @builtin(local_invocation_index) lid: u32,
        @builtin(subgroup_id) sg: u32) {
  let r0 = (wid.x + wid.y * groups.x) * OUT_ROWS;
  if (r0 >= p.rows) { return; }  // the whole workgroup: a flat grid's spare workgroups
  let rb = min(r0, p.rows - OUT_ROWS);  // the tile's first row
  let c = sums(rb, sg, lid);
  subgroupMatrixStore<row_major>(&part, sg * 512u, c.c0, 16u);
  subgroupMatrixStore<row_major>(&part, sg * 512u + 256u, c.c1, 16u);
  workgroupBarrier();
  // Output (t, rb + n) sums tile row n's accumulator over the subgroups (with SWIGLU, G's and U's).
  for (var e = lid; e < TM * OUT_ROWS; e += WG) {
    let t = e / OUT_ROWS;
    let n = e % OUT_ROWS;
    var g = 0.0;
    var u = 0.0;
    for (var s = 0u; s < SG; s++) {
#if SWIGLU
      g += part[s * 512u + t * 16u + n];
      u += part[s * 512u + 256u + t * 16u + n];
#else
      g += part[s * 512u + (n / 16u) * 256u + t * 16u + n % 16u];
#endif
    }
    if (t < p.T && rb + n >= max(r0, p.skip)) { store(t, rb + n, g, u); }
  }
}
