/**
 * Token generation: prefill the prompt, then replay the decode step until a stop condition.
 *
 * The GPU never waits for the CPU: the sampler writes each token into the buffer the next step
 * embeds, the CPU encodes step n+1 while step n runs, and tokens are read back in small batches
 * (a few steps may run past an end-of-sequence token; their output is dropped).
 */
import { check } from './errors.js';
import { collecting, oneShot, release } from './gpu/device.js';
import { readBuffer, storage, type Dispatch } from './gpu/kernels.js';
import { Model, type DecodeAttention, type Op } from './model/model.js';
import * as ops from './ops/dense.js';
import type { Tokenizer } from './tokenizer.js';
import { maxOf } from './arrays.js';

export interface SamplingOptions {
  maxTokens: number;
  /** 0 = greedy. */
  temperature: number;
  topP: number;
  seed: number;
  stopIds: number[];
  /** Generation stops once the decoded text contains one of these (the stop string is cut). */
  stopStrings?: string[];
  /** Teacher forcing: feed these tokens instead of the sampled ones (for agreement metrics). */
  forced?: number[];
  /** Return the logits of every generated position, [generated, vocab]. */
  keepLogits?: boolean;
  /**
   * 'sparse': the prompt runs token by token through the decode step, so it attends through the
   * decode attention (CSA) too, instead of one full-attention prefill ('full', the default).
   */
  promptAttention?: 'full' | 'sparse';
}

export interface Timings {
  prefillMs: number;
  firstTokenMs: number;
  decodeMs: number;
  generated: number;
  msPerToken: number;
  tokensPerSecond: number;
  /** CPU time a decode step takes to record and submit (the GPU starves if it nears msPerToken). */
  submitMsPerStep: number;
}

export interface Generation {
  ids: number[];
  /** With keepLogits: f32 [steps, vocab], row i = the distribution that chose token i. */
  logits?: Float32Array;
  stopReason: 'eos' | 'stop-string' | 'max-tokens';
  timings: Timings;
}

/** How many decode steps may be queued ahead of the tokens read back. */
const LOOKAHEAD = 8;
/** Tokens per read-back (a copy and a map each). */
const READ_BATCH = 4;

export class Generator {
  private history: GPUBuffer;
  private cachedOps = new Map<string, ReturnType<Model['decodeOps']>>();
  /** Buffers the recorded steps made (their dispatches' params and partials). */
  private made: GPUBuffer[] = [];

  constructor(readonly model: Model) {
    this.history = storage(model.gpu, (model.capacity + 1) * 4, 'token history');
  }

  private sampler(o: SamplingOptions): (logits: GPUBuffer) => Dispatch {
    const m = this.model;
    const common = { next: m.nextToken, history: this.history, step: m.step, V: m.cfg.vocab };
    return (logits) =>
      o.temperature > 0
        ? ops.sample(m.kernels, { logits, ...common, temperature: o.temperature, topP: o.topP, seed: o.seed })
        : ops.argmax(m.kernels, { logits, ...common });
  }

  /** Frees the token history and the recorded steps' buffers: for a generator of a context that goes away. */
  destroy(): void {
    for (const b of [...this.made, this.history]) release(this.model.gpu, b);
    this.made = [];
    this.cachedOps.clear();
  }

  /**
   * Generates after `promptIds`, which go at positions [pos, pos + n) of the cache (0: a new
   * sequence; a context's length: a question after it). `attention` chooses the decode attention
   * (full by default); `key` names it for caching its recorded step. `onToken` receives every kept
   * token as soon as it is read back. The cache then holds the prompt and the kept tokens.
   */
  async generate(promptIds: number[], pos: number, o: SamplingOptions, onToken?: (id: number) => boolean | void,
    attention: DecodeAttention = this.model.fullAttention, key = 'full'): Promise<Generation> {
    const m = this.model;
    check(o.maxTokens >= 1, '--max-tokens must be at least 1');
    const need = pos + promptIds.length + o.maxTokens;
    check(need <= m.capacity, `the prompt and ${o.maxTokens} new tokens need ${need} positions; the KV cache holds ${m.capacity}`, 'too-long');
    const sample = this.sampler(o);
    const V = m.cfg.vocab;
    const logitsOut = o.keepLogits ? storage(m.gpu, o.maxTokens * V * 4, 'logits of every step') : null;
    const keep = (row: number): Op[] =>
      logitsOut ? [{ copy: { src: m.logitsOf(m.scratchFor(1)), srcOffset: 0, dst: logitsOut, dstOffset: row * V * 4, size: V * 4 } }] : [];
    const t0 = performance.now();
    const opsKey = `${key}|${o.temperature}|${o.topP}|${o.seed}`;
    let step = this.cachedOps.get(opsKey);
    if (!step) this.cachedOps.set(opsKey, (step = collecting(m.gpu, this.made, () => m.decodeOps(attention, sample))));
    const compiled = m.kernels.ready(); // the step's kernels compile while the prompt prefills
    const first = pos + promptIds.length - 1; // the last prompt token's position
    if (o.promptAttention === 'sparse') {
      // The prompt's tokens through the decode step in turn; the last step samples the first new
      // token, as the prefill path's sampler does.
      await compiled;
      for (const [i, id] of promptIds.entries()) m.decode(step, pos + i, id);
      m.execute(keep(0));
    } else {
      await m.prefill(promptIds, pos, { logits: 'keep' });
      await compiled;
      const logits = m.logitsOf(m.scratchFor(1));
      oneShot(m.gpu, () => sample(logits), (d) => m.execute([d, ...keep(0)], first));
    }
    await m.sync();
    const t1 = performance.now(); // decode timing starts with the step recorded and its kernels compiled

    const ids: number[] = [];
    let stopReason: Generation['stopReason'] = 'max-tokens';
    let firstTokenMs = 0;
    let submitted = 1; // tokens whose sampling has been submitted
    let queued = 0; // tokens whose read-back has been submitted
    let read = 0;
    let submitMs = 0;
    // A read-back's copy is submitted right after its last step, so mapping it waits for that step
    // only: the steps queued after it keep the GPU busy while the CPU reads and streams (reading
    // after the last queued step instead drained the GPU every LOOKAHEAD steps).
    const reads: Promise<ArrayBuffer>[] = [];
    const queueRead = () => {
      reads.push(readBuffer(m.gpu, this.history, (submitted - queued) * 4, (first + 1 + queued) * 4));
      queued = submitted;
    };
    queueRead(); // the first token streams as soon as it is sampled
    try {
      while (read < o.maxTokens) {
        while (submitted < o.maxTokens && submitted - read < LOOKAHEAD) {
          // The step at first + i embeds new token i - 1 (sampled, or forced) and samples token i.
          const ts = performance.now();
          m.decode([...step, ...keep(submitted)], first + submitted, o.forced?.[submitted - 1]);
          submitMs += performance.now() - ts;
          submitted++;
          if (submitted - queued >= READ_BATCH) queueRead();
        }
        if (reads.length === 0) queueRead();
        const batch = new Uint32Array(await reads.shift()!);
        if (read === 0) firstTokenMs = performance.now() - t0;
        let done = false;
        for (const id of batch) {
          read++;
          if (!o.forced && o.stopIds.includes(id)) { stopReason = 'eos'; done = true; break; }
          ids.push(id);
          if (onToken?.(id) === true) { stopReason = 'stop-string'; done = true; break; }
        }
        if (done) break;
      }
    } finally {
      await Promise.allSettled(reads);
    }
    await m.sync();
    const t2 = performance.now();
    // The steps queued past a stop wrote rows of dropped tokens: keep the prompt and every kept
    // token that a decode step fed back.
    m.cache.truncate(first + 1 + Math.min(ids.length, submitted - 1));
    const decodeSteps = Math.max(submitted - 1, 1);
    const logits = logitsOut ? new Float32Array(await readBuffer(m.gpu, logitsOut, ids.length * V * 4)) : undefined;
    if (logitsOut) release(m.gpu, logitsOut);
    return {
      ids,
      logits,
      stopReason,
      timings: {
        prefillMs: t1 - t0,
        firstTokenMs,
        decodeMs: t2 - t1,
        generated: ids.length,
        msPerToken: (t2 - t1) / decodeSteps,
        tokensPerSecond: (decodeSteps * 1000) / (t2 - t1),
        submitMsPerStep: submitMs / decodeSteps,
      },
    };
  }
}

/**
 * Streams generated text (to stdout, say): decodes incrementally (never splitting a UTF-8 character)
 * and stops at a stop string. Returns a callback for Generator.generate and the final text.
 */
export function textSink(tok: Tokenizer, stops: string[] | undefined, write: (s: string) => void) {
  const stream = tok.streamer({ skipSpecialTokens: true });
  let text = '';
  let printed = 0;
  const hold = maxOf((stops ?? []).map((s) => s.length - 1), 0);
  const onToken = (id: number): boolean => {
    text += stream.push(id);
    const hit = stops?.map((s) => text.indexOf(s)).filter((i) => i >= 0).sort((a, b) => a - b)[0];
    if (hit !== undefined) {
      text = text.slice(0, hit);
      write(text.slice(printed));
      printed = text.length;
      return true;
    }
    // Hold back the tail that could still become a stop string.
    const safe = Math.max(printed, text.length - hold);
    write(text.slice(printed, safe));
    printed = safe;
    return false;
  };
  const finish = (): string => {
    text += stream.flush();
    write(text.slice(printed));
    printed = text.length;
    return text;
  };
  return { onToken, finish };
}
