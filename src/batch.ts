/**
 * Continuous batching: many prompts after one context, up to B of them decoding together
 * (Model.batchOps: one step samples a token for every sequence, reading the weights once).
 *
 * A prompt is prefilled alone at the context's end (full attention, as Generator does), its K/V rows
 * are moved to a free sequence of the batch (KvCache.copyRows) and its first token seeds that
 * sequence's next token; the recorded batch step then runs, several steps in flight, tokens read
 * back in batches. Each prompt stops on its own (its end-of-sequence ids, its stop strings through
 * onToken, its max tokens). A sequence whose steps have all been submitted gives its slot to the
 * next prompt: the prefill runs after the steps already queued, which read the old rows first.
 */
import { check } from './errors.js';
import { collecting, release } from './gpu/device.js';
import { readBuffer, storage, type Dispatch } from './gpu/kernels.js';
import type { Batch, DecodeAttention, Model, Op } from './model/model.js';
import * as ops from './ops/dense.js';
import type { Generation, SamplingOptions } from './generate.js';

export interface BatchPrompt {
  /** Tokens after the context. */
  ids: number[];
  maxTokens: number;
  stopIds: number[];
  /** Receives every kept token as it is read back; true stops this prompt (a stop string). */
  onToken?: (id: number) => boolean | void;
  /** The slot it runs in (a batch whose slots attend differently); by default any free one. */
  slot?: number;
  /** Teacher forcing: feed these tokens instead of the sampled ones (its end-of-sequence ids then do not stop it). */
  forced?: number[];
  /** Keep the logits of every generated position (Generation.logits). */
  keepLogits?: boolean;
}

/**
 * A batch's attention: one form, or several forms of it, each recorded as a step of its own, between
 * which the steps' probe chooses as they run (decode.ts: unions where the questions share keys).
 */
export type BatchAttention = DecodeAttention | SwitchedAttention;

export interface SwitchedAttention {
  forms: DecodeAttention[];
  /** A word for each form (benchmarks report the one a run ended with). */
  names: string[];
  /** What every form's step writes for the choice (made when the first form is recorded; none: the forms do not differ), read back with the tokens. */
  probe(): GPUBuffer | undefined;
  /** What a probe read back says (decode.ts: the union's share of the keys selected); null: nothing yet. */
  measure(probe: ArrayBuffer): number | null;
  /** The form for the steps not yet submitted, from the latest measure and the form in use. */
  choose(measured: number | null, form: number): number;
}

/** How every sequence of a batch samples (one recorded sampler serves them all). */
export type BatchSampling = Pick<SamplingOptions, 'temperature' | 'topP' | 'seed'>;

/** Batch steps queued ahead of the tokens read back, and steps per read-back (as Generator's). */
const LOOKAHEAD = 8;
const READ_BATCH = 4;
/** Rows of the token history, a ring of steps (more than the steps in flight). */
const HISTORY_ROWS = 64;

/** What a run's batch steps did: steps, tokens they sampled for prompts, their time (prefills left out). */
export interface BatchRun { steps: number; tokens: number; decodeMs: number }

/** A prompt being answered in a slot of the batch. */
interface Live {
  index: number;
  prompt: BatchPrompt;
  /** The position of its last prompt token: its step i runs at first + i. */
  first: number;
  /** Tokens whose sampling has been submitted (the prompt's sampler counts for the first) and read. */
  submitted: number;
  read: number;
  ids: number[];
  done: boolean;
  stopReason: Generation['stopReason'];
  /** Started, first token read (its decode starts), stopped. */
  t0: number; t1: number; t2: number;
  firstTokenMs: number;
  /** keepLogits: f32 [maxTokens, vocab], row i the distribution that chose token i. */
  logits: GPUBuffer | null;
}

export class BatchGenerator {
  private readonly history: GPUBuffer;
  /** The recorded step of each form of the attention, and the form the next steps take (kept from run to run). */
  private readonly recorded: Op[][];
  private readonly forms: DecodeAttention[];
  private form = 0;
  private readonly switched: SwitchedAttention | null;
  private lastMeasure: number | null = null;
  /** Samples a prefilled prompt's first token (into model.nextToken) at the step's position. */
  private readonly promptSampler: Dispatch;
  private made: GPUBuffer[] = [];
  private submitMs = 0;
  private steps = 0;

  /** `attention`: the batch's decode attention (model.batchAttention, or a sparse method's). */
  constructor(readonly model: Model, readonly batch: Batch, sampling: BatchSampling, attention: BatchAttention) {
    const m = model;
    const chooser = (a: ops.ArgmaxArgs) => (sampling.temperature > 0 ? ops.sample(m.kernels, { ...a, ...sampling }) : ops.argmax(m.kernels, a));
    this.history = collecting(m.gpu, this.made, () => storage(m.gpu, HISTORY_ROWS * batch.B * 4, 'batch token history'));
    this.switched = typeof attention === 'function' ? null : attention;
    this.forms = this.switched?.forms ?? [attention as DecodeAttention];
    this.recorded = this.forms.map((form) => collecting(m.gpu, this.made, () => m.batchOps(batch, form, (logits) =>
      chooser({ logits, next: batch.next, history: this.history, step: batch.positions, V: m.cfg.vocab, batch: { B: batch.B, positions: batch.positions } }))));
    this.promptSampler = collecting(m.gpu, this.made, () => chooser({
      logits: m.logitsOf(m.scratchFor(1)), next: m.nextToken, history: storage(m.gpu, (m.capacity + 1) * 4, 'prompt token history'), step: m.step, V: m.cfg.vocab,
    }));
  }

  /** The attention the next steps take: a switched attention's current form. */
  get attention(): DecodeAttention {
    return this.forms[this.form];
  }

  /** A switched attention: the name of its current form, and what its last probe read back measured. */
  get switchState(): { form: string; measured: number | null } | null {
    return this.switched && { form: this.switched.names[this.form], measured: this.lastMeasure };
  }

  /** Frees what the generator made (the batch itself belongs to its maker). */
  destroy(): void {
    for (const b of this.made) release(this.model.gpu, b);
    this.made = [];
  }

  /**
   * Answers every prompt, at most B at a time, and hands each one's generation to `onDone` (by its
   * index) as soon as it stops. The cache's context is left as it was.
   */
  async run(prompts: BatchPrompt[], onDone: (index: number, g: Generation) => void): Promise<BatchRun> {
    const t0 = performance.now();
    const compiled = this.model.kernels.ready(); // the step's kernels compile beside the first prompt's prefill
    let prefillMs = 0;
    let tokens = 0; // sampled by steps for a prompt that wanted them
    const { B, rows } = this.batch;
    for (const p of prompts) {
      check(p.maxTokens >= 1, '--max-tokens must be at least 1');
      check(p.ids.length >= 1 && p.ids.length + p.maxTokens <= rows.room, `a prompt of ${p.ids.length} tokens and ${p.maxTokens} new ones exceed the batch's ${rows.room} positions a sequence`, 'too-long');
    }
    const slots: (Live | null)[] = new Array(B).fill(null);
    let prefilled: number[] | null = null; // the prompt whose rows and logits the last start left
    const needs = (l: Live | null): l is Live => !!l && !l.done && l.submitted < l.prompt.maxTokens;
    const started = new Array<boolean>(prompts.length).fill(false);
    let finished = 0;
    const ends: Promise<void>[] = []; // answers handed over once their logits are read
    const finish = (l: Live) => {
      finished++;
      ends.push(this.generation(l).then((g) => onDone(l.index, g)));
    };
    // Per submitted step, the prompt each slot served (null: none, its row is ignored).
    const served: (Live | null)[][] = [];
    let queued = 0; // steps whose read-back is queued
    let read = 0; // steps read back
    const reads: { from: number; data: Promise<ArrayBuffer>; probe?: Promise<ArrayBuffer> }[] = [];
    const queueRead = () => {
      const from = queued, n = served.length - queued;
      const probe = this.switched?.probe();
      reads.push({ from, data: readBuffer(this.model.gpu, this.history, n * B * 4, (from % HISTORY_ROWS) * B * 4), probe: probe && readBuffer(this.model.gpu, probe) });
      queued = served.length;
    };
    try {
      while (finished < prompts.length) {
        // A free slot takes the next prompt that may run there (its prefill runs after the steps in flight).
        for (let s = 0; s < B; s++) {
          if (needs(slots[s])) continue;
          const i = prompts.findIndex((p, j) => !started[j] && (p.slot ?? s) === s);
          if (i < 0) continue;
          started[i] = true;
          const ts = performance.now();
          const l = await this.start(i, prompts[i], s, sameIds(prefilled, prompts[i].ids), compiled);
          prefilled = prompts[i].ids;
          prefillMs += performance.now() - ts;
          slots[s] = l;
          if (this.accept(l, l.firstToken)) finish(l);
        }
        while (served.length - read < LOOKAHEAD && slots.some(needs)) {
          // Step i of a prompt embeds its token i - 1 (sampled, or forced) and samples token i. A
          // slot with nothing to do replays the context's end, in its own rows, unread.
          const ts = performance.now();
          const at = served.length % HISTORY_ROWS;
          const live = slots.map((l) => (needs(l) ? l : null));
          const keep = live.flatMap((l, b): Op[] => (l?.logits ? [this.keepLogits(b, l.logits, l.submitted)] : []));
          const forced = live.map((l) => l?.prompt.forced?.[l.submitted - 1]);
          this.model.decodeBatch(this.batch, [...this.recorded[this.form], ...keep], live.map((l) => (l ? l.first + l.submitted : rows.ctx)), at, forced);
          this.submitMs += performance.now() - ts;
          this.steps++;
          served.push(live);
          for (const l of live) {
            if (!l) continue;
            l.submitted++;
            tokens++;
          }
          // A read-back ends at the ring's end, so its rows are contiguous.
          if (served.length - queued >= READ_BATCH || served.length % HISTORY_ROWS === 0) queueRead();
        }
        if (reads.length === 0 && queued < served.length) queueRead();
        if (reads.length === 0) continue; // every prompt in a slot stopped at its first token
        const r = reads.shift()!;
        const ids = new Uint32Array(await r.data);
        for (let j = 0; j < ids.length / B; j++) {
          for (const [s, l] of served[r.from + j].entries()) if (l && !l.done && this.accept(l, ids[j * B + s])) finish(l);
        }
        read = r.from + ids.length / B;
        if (r.probe) {
          this.lastMeasure = this.switched!.measure(await r.probe);
          this.form = this.switched!.choose(this.lastMeasure, this.form);
        }
      }
      await Promise.all(ends);
    } finally {
      await Promise.allSettled([...reads.flatMap((r) => [r.data, r.probe]), ...ends]);
      for (const l of slots) if (l?.logits && !l.done) release(this.model.gpu, l.logits);
    }
    await this.model.sync();
    return { steps: served.length, tokens, decodeMs: performance.now() - t0 - prefillMs };
  }

  /**
   * Prefills prompt `index` after the context, moves its rows to slot s's and seeds the slot's next
   * token with its first token (read back: returned as firstToken). `again`: the last start's prompt
   * had the same tokens, and its rows and logits are still there (batch steps write neither), so the
   * prefill is skipped (eval asks one question of every slot). `compiled`: the generator's kernels
   * compiled (its prompt sampler runs here).
   */
  private async start(index: number, prompt: BatchPrompt, s: number, again: boolean, compiled: Promise<void>): Promise<Live & { firstToken: number }> {
    const m = this.model;
    const { ctx, room } = this.batch.rows;
    const t0 = performance.now();
    const n = prompt.ids.length;
    if (!again) await m.prefill(prompt.ids, ctx, { logits: 'keep' }); // rows [ctx, ctx + n): a single sequence's
    await compiled;
    const first = ctx + n - 1;
    const seed: Op = { copy: { src: m.nextToken, srcOffset: 0, dst: this.batch.next, dstOffset: s * 4, size: 4 } };
    const V = m.cfg.vocab;
    const logits = prompt.keepLogits ? storage(m.gpu, prompt.maxTokens * V * 4, 'logits of every step') : null;
    const keep: Op[] = logits ? [{ copy: { src: m.logitsOf(m.scratchFor(1)), srcOffset: 0, dst: logits, dstOffset: 0, size: V * 4 } }] : [];
    m.execute([this.promptSampler, ...keep, ...m.cache.copyRows(ctx, ctx + (s + 1) * room, n), seed], first);
    m.cache.truncate(ctx);
    const firstToken = new Uint32Array(await readBuffer(m.gpu, m.nextToken, 4))[0];
    const t1 = performance.now();
    return { index, prompt, first, submitted: 1, read: 0, ids: [], done: false, stopReason: 'max-tokens', t0, t1, t2: t1, firstTokenMs: t1 - t0, logits, firstToken };
  }

  /** A copy of slot b's logits of this step into row `row` of `logits`. */
  private keepLogits(b: number, logits: GPUBuffer, row: number): Op {
    const bytes = this.model.cfg.vocab * 4;
    return { copy: { src: this.batch.scratch.logits!, srcOffset: b * bytes, dst: logits, dstOffset: row * bytes, size: bytes } };
  }

  /** Takes token `id` of prompt l; true when l stops with it. */
  private accept(l: Live, id: number): boolean {
    l.read++;
    if (!l.prompt.forced && l.prompt.stopIds.includes(id)) l.stopReason = 'eos';
    else {
      l.ids.push(id);
      if (l.prompt.onToken?.(id) === true) l.stopReason = 'stop-string';
      else if (l.read < l.prompt.maxTokens) return false;
    }
    l.done = true;
    l.t2 = performance.now();
    return true;
  }

  /** What prompt l generated (its logits read back and freed). */
  private async generation(l: Live): Promise<Generation> {
    const decodeSteps = Math.max(l.submitted - 1, 1);
    const decodeMs = l.t2 - l.t1;
    let logits: Float32Array | undefined;
    if (l.logits) {
      logits = new Float32Array(await readBuffer(this.model.gpu, l.logits, l.ids.length * this.model.cfg.vocab * 4));
      release(this.model.gpu, l.logits);
    }
    return {
      ids: l.ids,
      logits,
      stopReason: l.stopReason,
      timings: {
        prefillMs: l.t1 - l.t0, firstTokenMs: l.firstTokenMs, decodeMs, generated: l.ids.length,
        msPerToken: decodeMs / decodeSteps, tokensPerSecond: (decodeSteps * 1000) / decodeMs,
        submitMsPerStep: this.submitMs / Math.max(this.steps, 1),
      },
    };
  }
}

function sameIds(a: number[] | null, b: number[]): boolean {
  return !!a && a.length === b.length && a.every((x, i) => x === b[i]);
}
