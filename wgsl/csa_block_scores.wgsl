// Decode step, 2b ('csa-blocks'): each key's summed score replaced, in place, by the mean of its block
// of `block` consecutive keys (blocks from key 0; the last one may be short), floored, so that
// csa_topk takes whole blocks: rows the attention reads side by side. One thread per (list, block).
struct Params { keys: u32, block: u32 }
@group(0) @binding(0) var<storage, read_write> scores: array<i32>; // [lists, keys]
@group(0) @binding(1) var<uniform> p: Params;

override WG: u32 = 64;

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let first = gid.x * p.block;
  if (first >= p.keys) { return; }
  let row = gid.y * p.keys;
  let end = min(first + p.block, p.keys);
  // |score| < 2^21 a key and block <= 256: the sum fits an i32.
  var sum = 0;
  for (var k = first; k < end; k++) { sum += scores[row + k]; }
  let n = i32(end - first);
  var mean = sum / n; // truncated toward zero: floored below
  if (mean * n != sum && sum < 0) { mean -= 1; }
  for (var k = first; k < end; k++) { scores[row + k] = mean; }
}
