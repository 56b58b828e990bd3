// The order key of a fixed-point score for the top-K radix select: scores stay below 2^21 in size
// (csa_score's scale), so 22 bits in two 11-bit digits, one histogram of BINS bins per digit.
#requires WG local_hist hist
const BINS = 2048u;
fn order_of(v: i32) -> u32 {
  return u32(clamp(v + (1 << 21u), 0, (1 << 22u) - 1));
}

// Clears histogram `at`, workgroup w of n taking its share. The low digit's histogram is read by
// every workgroup of csa_topk's last pass, so the dispatch that starts the next selection (csa_score
// or HIST) clears it.
fn clear_hist(lid: u32, at: u32, w: u32, n: u32) {
  for (var b = w * WG + lid; b < BINS; b += n * WG) { atomicStore(&hist[at + b], 0u); }
}

// Adds the workgroup's histogram (its non-zero bins) into the global one at `at`; the kernel
// declares both (local_hist: array<atomic<u32>, BINS> in workgroup memory, hist in storage) and WG.
fn flush_hist(lid: u32, at: u32) {
  for (var b = lid; b < BINS; b += WG) {
    let c = atomicLoad(&local_hist[b]);
    if (c > 0u) { atomicAdd(&hist[at + b], c); }
  }
}
