// Q4 weights (llama.cpp's Q4_1 scheme): a row of K values in blocks of 32, each block 4-bit codes
// q in 0..15, an f16 scale d and an f16 offset m, the value being q·d + m; (d, m) of a block in
// one u32 (d in the low half). Eight codes to a u32: byte b of word i holds value 8i + b in its low
// half and 8i + 4 + b in its high half, so that masking the word gives four codes a byte (the
// order packed int8 products take).

// The eight codes of a word: values 8i..8i+3, then 8i+4..8i+7.
fn q4x8(v: u32) -> array<vec4<f32>, 2> {
  let shifts = vec4<u32>(0u, 8u, 16u, 24u);
  let lo = (vec4(v) >> shifts) & vec4(0xfu);
  let hi = (vec4(v) >> (shifts + 4u)) & vec4(0xfu);
  return array(vec4<f32>(lo), vec4<f32>(hi));
}
