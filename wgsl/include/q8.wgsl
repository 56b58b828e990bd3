// Q8 weights (llama.cpp's Q8_0): a row of K values in blocks of 32, each block int8 values q and
// one f16 scale d, the value being q·d. The int8 values are packed four to a u32, value 4i + j in
// byte j; the scales are packed two to a u32, block 2i in the low half.

// The four int8 values of a word, sign-extended (the portable form of unpack4xI8).
fn i8x4(v: u32) -> vec4<f32> {
  return vec4<f32>(vec4<i32>(bitcast<i32>(v << 24u), bitcast<i32>(v << 16u), bitcast<i32>(v << 8u), bitcast<i32>(v)) >> vec4<u32>(24u));
}
