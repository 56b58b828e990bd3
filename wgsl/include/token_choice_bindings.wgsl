// Bindings of the token choosers (argmax, sample), after the kernel's own Params struct: the
// logits, the token for the next step (next[0]) and the token history (written at step.pos + 1).
// BATCH: workgroup b chooses the token of row b of logits [B, V], at position seq_pos[b], into
// next[b] and history[seq_pos[B] · B + b] (seq_pos: the B positions, then this step's history row).
// main calls choose_row first.
#requires Params
struct Step { pos: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;        // [V] ([B, V])
@group(0) @binding(1) var<storage, read_write> next: array<u32>;    // [1] ([B])
@group(0) @binding(2) var<storage, read_write> history: array<u32>; // [capacity + 1] ([rows, B])
#if BATCH
@group(0) @binding(3) var<storage, read> seq_pos: array<u32>;       // [B + 1]
#else
@group(0) @binding(3) var<uniform> step: Step;
#endif
@group(0) @binding(4) var<uniform> p: Params;

var<private> row: u32;
var<private> rows: u32;

fn choose_row(wid: vec3<u32>, nwg: vec3<u32>) {
  row = wid.x;
  rows = nwg.x;
}

fn logit(i: u32) -> f32 { return logits[row * p.V + i]; }

#if BATCH
fn position() -> u32 { return seq_pos[row]; }
fn history_index() -> u32 { return seq_pos[rows] * rows + row; }
#else
fn position() -> u32 { return step.pos; }
fn history_index() -> u32 { return step.pos + 1u; }
#endif

fn emit(token: u32) {
  next[row] = token;
  history[history_index()] = token;
}
