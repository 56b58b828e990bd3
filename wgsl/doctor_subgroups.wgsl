// csattn doctor, subgroups: each invocation of a 64-wide workgroup writes its subgroup's size and
// subgroupAdd(1), which equal each other when the subgroup is full.
@group(0) @binding(0) var<storage, read_write> y: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(subgroup_size) size: u32) {
  y[2u * lid] = size;
  y[2u * lid + 1u] = subgroupAdd(1u);
}
