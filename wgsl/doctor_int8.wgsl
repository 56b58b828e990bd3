// csattn doctor, packed int8 products (the quantized matvecs' DOT4 path): y[i] = dot4I8Packed of
// pack4xI8(a[i]) and pack4xI8(b[i]), and the packed words themselves, for small signed vectors.
@group(0) @binding(0) var<storage, read> a: array<vec4<i32>>;
@group(0) @binding(1) var<storage, read> b: array<vec4<i32>>;
@group(0) @binding(2) var<storage, read_write> y: array<i32>;

@compute @workgroup_size(8)
fn main(@builtin(local_invocation_index) i: u32) {
  let pa = pack4xI8(a[i]);
  y[3u * i] = dot4I8Packed(pa, pack4xI8(b[i]));
  y[3u * i + 1u] = bitcast<i32>(pa);
  y[3u * i + 2u] = dot4I8Packed(pa, 0x01010101u); // Σ a
}
