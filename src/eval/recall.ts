/**
 * recall@K of the oracle's keys, the selector quality `csattn eval` reports: one probe step runs a
 * method's selection and the oracle's on the same queries and compares the two key sets. The same
 * step's queries are kept and compared with the centroids the method selects through (csa, keypq):
 * how near its tables' centroids the decode-time queries are (./centroids.ts).
 */
import { check } from '../errors.js';
import type { Gpu } from '../gpu/device.js';
import { readBuffer, storage, type Op } from '../gpu/kernels.js';
import type { DecodeAttention } from '../model/model.js';
import { ropeInvFreq } from '../model/config.js';
import { contextBudget, type Selection } from '../attention/csa/select.js';
import type { Method } from '../attention/methods.js';
import { selectOptions, type Session, type SparseOptions } from '../decode.js';
import type { SamplingOptions } from '../generate.js';
import { questionIds } from '../template.js';
import { centroidCosine, type CentroidCosine, type CentroidSet } from './centroids.js';

/** The selected key positions of each list (reads the selection back: eval and tests only). */
export async function readSelection(gpu: Gpu, s: Selection, lists: number): Promise<Uint32Array[]> {
  const counts = new Uint32Array(await readBuffer(gpu, s.counts, lists * 4));
  const sel = new Uint32Array(await readBuffer(gpu, s.sel, lists * s.kmax * 4));
  return Array.from(counts, (n, l) => sel.slice(l * s.kmax, l * s.kmax + Math.min(n, s.kmax)));
}

/** recall@K over all context keys, and over the part chosen by score (sinks and window left out). */
export interface Recall { all: number; chosen: number }

/**
 * recall@K of `got` against the oracle's selection: the mean over query heads of
 * |got ∩ oracle| / |oracle ∩ keys|, for keys = the context [0, N) (`all`) and = the part every
 * method fills by score, [chosen.from, chosen.to) (`chosen`: the forced sinks and window, which
 * both hold, left out); 1 where the oracle selects none. A per-KV-head selection is compared with
 * each query head's oracle list of its group.
 */
export async function selectionRecall(gpu: Gpu, got: Selection, oracle: Selection,
  a: { Hq: number; Hkv: number; N: number; chosen?: { from: number; to: number } }): Promise<Recall> {
  check(oracle.perQueryHead, 'recall: the oracle selection must be per query head');
  const group = a.Hq / a.Hkv;
  const { from, to } = a.chosen ?? { from: 0, to: a.N };
  const mine = (await readSelection(gpu, got, got.perQueryHead ? a.Hq : a.Hkv)).map((l) => new Set(l));
  const best = await readSelection(gpu, oracle, a.Hq);
  const share = (keys: number[], picked: Set<number>) => (keys.length === 0 ? 1 : keys.filter((t) => picked.has(t)).length / keys.length);
  let all = 0;
  let chosen = 0;
  best.forEach((list, h) => {
    const picked = mine[got.perQueryHead ? h : Math.floor(h / group)];
    const context = Array.from(list).filter((t) => t < a.N);
    all += share(context, picked);
    chosen += share(context.filter((t) => t >= from && t < to), picked);
  });
  return { all: all / a.Hq, chosen: chosen / a.Hq };
}

/**
 * A probe step's attention; the two selections of each layer, and the step's queries, which it
 * fills when its step is recorded.
 */
interface Probe {
  attention: DecodeAttention;
  plans: { got: Selection; oracle: Selection }[];
  /** f32 [layers, Hq, d]: each layer's query at the step, post-RoPE. */
  queries?: GPUBuffer;
}

/** What one probe step measures, per layer; `centroidCosine` for methods that select through centroids. */
export interface ProbeResult { all: number[]; chosen: number[]; centroidCosine?: CentroidCosine }

/** Two greedy tokens: the question's prefill samples the first, the probe step runs for the second. */
const PROBE_SAMPLING: SamplingOptions = { maxTokens: 2, temperature: 0, topP: 1, seed: 0, stopIds: [] };

/**
 * The recall probes of one session. Keep one per session: the session caches each probe's
 * recorded step by its key, and the plans are filled only when a step is recorded.
 */
export class RecallProbe {
  private probes = new Map<string, Probe>();
  /** Each method's centroids, read back once. */
  private centroids = new Map<Method, CentroidSet | null>();

  constructor(private readonly session: Session) {}

  /**
   * recall@K of the oracle's keys, per layer, at the first generated token: full attention carries
   * the step, so `method` and the oracle see the same hidden states. With it, for a method with
   * centroid tables, the cosine of that step's queries to their nearest centroids.
   */
  async recall(question: string, method: Method, sparse: SparseOptions): Promise<ProbeResult> {
    const s = this.session;
    const key = `probe:${method}:${sparse.sparsity}:${sparse.sink}:${sparse.window}`;
    let probe = this.probes.get(key);
    if (!probe) this.probes.set(key, (probe = await this.probe(method, sparse)));
    const ids = questionIds(s.tok, s.bundle.meta.template, question);
    await s.generate(ids, PROBE_SAMPLING, probe.attention, key);
    const { heads: Hq, kvHeads: Hkv } = s.model.cfg;
    const N = s.contextTokens;
    const budget = contextBudget(selectOptions(sparse, N, s.model.capacity));
    const out: ProbeResult = { all: [], chosen: [] };
    for (const p of probe.plans) {
      const r = await selectionRecall(s.model.gpu, p.got, p.oracle, { Hq, Hkv, N, chosen: { from: budget.sinkEnd, to: budget.winStart } });
      out.all.push(r.all);
      out.chosen.push(r.chosen);
    }
    const set = await this.centroidSet(method);
    // The probe step is the one after the question's last token: it sits at N + question tokens.
    if (set) out.centroidCosine = await this.cosine(probe, set, N + ids.length);
    return out;
  }

  private async cosine(probe: Probe, set: CentroidSet, pos: number): Promise<CentroidCosine> {
    const m = this.session.model;
    const { layers, heads: Hq, kvHeads: Hkv, headDim: d } = m.cfg;
    const queries = new Float32Array(await readBuffer(m.gpu, probe.queries!, layers * Hq * d * 4));
    return centroidCosine(queries, set, { Hq, Hkv, d, pos, invFreq: ropeInvFreq(m.cfg) });
  }

  /** The centroids `method` selects through, on the CPU (null: it has none). */
  private async centroidSet(method: Method): Promise<CentroidSet | null> {
    if (this.centroids.has(method)) return this.centroids.get(method)!;
    const tables = (await this.session.prepare(method)).centroids;
    const gpu = this.session.model.gpu;
    // Every layer's read in flight together: each map costs milliseconds of latency.
    const set = tables ? {
      params: tables.params,
      centroids: await Promise.all(tables.layers.map(async (t) =>
        new Float32Array(await readBuffer(gpu, t.centroids, t.groups * t.m * t.C * t.ds * 4)))),
    } : null;
    this.centroids.set(method, set);
    return set;
  }

  private async probe(method: Method, sparse: SparseOptions): Promise<Probe> {
    const s = this.session;
    const { layers, heads: Hq, headDim: d } = s.model.cfg;
    const select = await s.selector(method, sparse);
    const best = await s.selector('oracle', sparse);
    const probe: Probe = {
      plans: [],
      attention: (l, q, out) => {
        const got = keepSelection(s.model.gpu, select(l, q));
        const oracle = keepSelection(s.model.gpu, best(l, q));
        probe.plans[l] = { got: got.selection, oracle: oracle.selection };
        // Made while the step is recorded, as the selections' buffers are: the recorded step keeps it.
        probe.queries ??= storage(s.model.gpu, layers * Hq * d * 4, 'probe step queries');
        const keep = { copy: { src: q, srcOffset: 0, dst: probe.queries, dstOffset: l * Hq * d * 4, size: Hq * d * 4 } };
        return [...got.ops, ...oracle.ops, keep, ...s.model.fullAttention(l, q, out)];
      },
    };
    return probe;
  }
}

/** A layer's selection copied out as the step runs: a selector may write the same buffers in the next layer (CSA's do). */
export function keepSelection(gpu: Gpu, plan: { dispatches: Op[]; selection: Selection }): { ops: Op[]; selection: Selection } {
  const { sel, counts } = plan.selection;
  const copy = { sel: storage(gpu, sel.size, 'probe selection'), counts: storage(gpu, counts.size, 'probe selection counts') };
  return {
    ops: [...plan.dispatches, { copy: { src: sel, srcOffset: 0, dst: copy.sel, dstOffset: 0, size: sel.size } },
      { copy: { src: counts, srcOffset: 0, dst: copy.counts, dstOffset: 0, size: counts.size } }],
    selection: { ...plan.selection, ...copy },
  };
}
