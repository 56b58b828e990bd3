// Bindings of the token choosers (argmax, sample), after the kernel's own Params struct: the
// logits, the token for the next step (next[0]) and the token history (written at step.pos + 1).
#requires Params
struct Step { pos: u32 }

@group(0) @binding(0) var<storage, read> logits: array<f32>;        // [V]
@group(0) @binding(1) var<storage, read_write> next: array<u32>;    // [1]
@group(0) @binding(2) var<storage, read_write> history: array<u32>; // [capacity + 1]
@group(0) @binding(3) var<uniform> step: Step;
@group(0) @binding(4) var<uniform> p: Params;
