// Exclusive prefix sum of v over the workgroup, and the total: 16 threads scan 16 values each, one
// thread scans their sums. Few barriers: each one costs lavapipe compile time.
// The including kernel defines WG = 256u.
#requires WG

var<workgroup> scan_buf: array<vec2<u32>, WG>;
var<workgroup> seg_sum: array<vec2<u32>, 17>;

struct Scan { before: vec2<u32>, total: vec2<u32> }
fn scan(lid: u32, v: vec2<u32>) -> Scan {
  scan_buf[lid] = v;
  workgroupBarrier();
  if (lid < 16u) {
    var s = vec2<u32>(0u);
    for (var i = lid * 16u; i < lid * 16u + 16u; i++) {
      let x = scan_buf[i];
      scan_buf[i] = s;
      s += x;
    }
    seg_sum[lid] = s;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var s = vec2<u32>(0u);
    for (var i = 0u; i < 16u; i++) {
      let x = seg_sum[i];
      seg_sum[i] = s;
      s += x;
    }
    seg_sum[16] = s;
  }
  workgroupBarrier();
  let r = Scan(scan_buf[lid] + seg_sum[lid / 16u], seg_sum[16]);
  workgroupBarrier();
  return r;
}
