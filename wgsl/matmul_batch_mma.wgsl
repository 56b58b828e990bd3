// matmul.wgsl for a decode batch of at most 16 tokens, on tensor cores (subgroup matrices, f16 x f16
// -> f32 at 16x16x16, subgroups of 32; needs the MMA, F16, W_HALVES and X_HALVES defines):
// y[t, n] (=, or += with ACCUMULATE) Σ_k x[t, k]·W[n, k] (+ bias[n] with BIAS); with SWIGLU,
// y = silu(x·Gᵀ) ⊙ (x·Uᵀ). Each weight is read once for all the tokens, as the matvec reads it for
// one; 16 tokens take 16 FLOP a weight byte, 69 TFLOP/s at 4.3 TB/s, past what f32 lanes do.
//
// Both operands go straight from storage into matrix registers: x as halves.wgsl left it (f16, 16
// rows of KP values, zero past T and K), W as it is. A workgroup owns TN = 32 rows of W (with
// SWIGLU: 16 rows of G and the same 16 of U); its SG subgroups take turns over K, KS values of k
// each (subgroup s's turn j: k from (j·SG + s)·KS), with all of a turn's loads issued before its
// multiplies and no barrier until the subgroups' sums meet in workgroup memory at the end. The
// earlier form staged x through workgroup memory a stage at a time (a barrier each): 18.2 ms of a
// B = 16 step at 128K on the H200, 0.79 TB/s of weights; this one 15.45 ms for one step's products
// at any T from 1 to 16, ~1 TB/s: the loads of W's tiles from storage set the pace
// (docs/perf-notes.md, session 18; matmul_batch_mma_staged.wgsl and PREFETCH are the experiments).
// The host guarantees K % 16 == 0, KP a multiple of SG·KS, and at least TN rows (a last, partial
// tile is moved back to end at the last row, its rows before the tile's own left to the tile before;
// the first `skip` rows of the binding belong to the row range before, which writes them).

struct Params { T: u32, K: u32, N: u32, row0: u32, rows: u32, KP: u32, skip: u32 }

#include weight_product

#include batch_mma

const KS = 64u; // k per subgroup and turn: 4 tiles of 16

// Wᵀ's 16 x 16 tile of rows row .. row+15 at k (a k past K reads K's last tile, which x's zeros cancel).
fn w_tile(row: u32, k: u32) -> Right {
  return subgroupMatrixLoad<Right, col_major>(&w, row * p.K + min(k, p.K - 16u), p.K);
}
// The second accumulator's tile: U's rows with SWIGLU, else W's next 16.
fn h_tile(row: u32, k: u32) -> Right {
#if SWIGLU
  return subgroupMatrixLoad<Right, col_major>(&w2, row * p.K + min(k, p.K - 16u), p.K);
#else
  return w_tile(row + 16u, k);
#endif
}

// A subgroup's operands of one turn: 4 k-tiles of x, and of each accumulator's rows.
struct Turn { a0: Left, a1: Left, a2: Left, a3: Left, g0: Right, g1: Right, g2: Right, g3: Right, h0: Right, h1: Right, h2: Right, h3: Right }

fn load_turn(rb: u32, k: u32) -> Turn {
  return Turn(x_tile(k), x_tile(k + 16u), x_tile(k + 32u), x_tile(k + 48u),
              w_tile(rb, k), w_tile(rb, k + 16u), w_tile(rb, k + 32u), w_tile(rb, k + 48u),
              h_tile(rb, k), h_tile(rb, k + 16u), h_tile(rb, k + 32u), h_tile(rb, k + 48u));
}

fn multiply(t: Turn, s: Sums) -> Sums {
  var c = s;
  c.c0 = mma(t.a0, t.g0, c.c0);
  c.c1 = mma(t.a0, t.h0, c.c1);
  c.c0 = mma(t.a1, t.g1, c.c0);
  c.c1 = mma(t.a1, t.h1, c.c1);
  c.c0 = mma(t.a2, t.g2, c.c0);
  c.c1 = mma(t.a2, t.h2, c.c1);
  c.c0 = mma(t.a3, t.g3, c.c0);
  c.c1 = mma(t.a3, t.h3, c.c1);
  return c;
}

// Subgroup sg's sums over its turns (k from (j·SG + sg)·KS in turn j).
fn sums(rb: u32, sg: u32, lid: u32) -> Sums {
  var c = Sums(Acc(), Acc());
  let turns = p.KP / (SG * KS);
#if PREFETCH
  var t = load_turn(rb, sg * KS);
  for (var j = 0u; j < turns; j++) {  // uniform bounds: subgroup matrices need uniform control flow
    let next = load_turn(rb, (min(j + 1u, turns - 1u) * SG + sg) * KS);
    c = multiply(t, c);
    t = next;
  }
#else
  for (var j = 0u; j < turns; j++) { c = multiply(load_turn(rb, (j * SG + sg) * KS), c); }
#endif
  return c;
}
