// The order key of a fixed-point score for the top-K radix select: scores stay below 2^21 in size
// (csa_score's scale), so 22 bits in two 11-bit digits, one histogram of BINS bins per digit.
const BINS = 2048u;
fn order_of(v: i32) -> u32 {
  return u32(clamp(v + (1 << 21u), 0, (1 << 22u) - 1));
}
