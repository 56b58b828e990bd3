/**
 * Memory bandwidth by adapter: the denominator of every floor that `csattn bench` prints. Datasheet
 * figures (GB/s); the adapter name is what Dawn reports (e.g. "nvidia nvidia-h200 NVIDIA: 580...").
 * More specific names come first. `--peak-gbps` overrides the table, and is needed where it has no row.
 */
const PEAKS: { pattern: RegExp; name: string; gbps: number }[] = [
  { pattern: /h200/i, name: 'NVIDIA H200 (HBM3e)', gbps: 4800 },
  { pattern: /h100.*nvl/i, name: 'NVIDIA H100 NVL', gbps: 3900 },
  { pattern: /h100.*pcie/i, name: 'NVIDIA H100 PCIe', gbps: 2000 },
  { pattern: /h100/i, name: 'NVIDIA H100 SXM (HBM3)', gbps: 3350 },
  { pattern: /a100.*80/i, name: 'NVIDIA A100 80GB SXM', gbps: 2039 },
  { pattern: /a100/i, name: 'NVIDIA A100 40GB', gbps: 1555 },
  { pattern: /l40s/i, name: 'NVIDIA L40S', gbps: 864 },
  { pattern: /rtx 4090|rtx-4090/i, name: 'NVIDIA GeForce RTX 4090', gbps: 1008 },
  { pattern: /mi300x/i, name: 'AMD Instinct MI300X', gbps: 5300 },
];

export interface Peak {
  gbps: number;
  /** Where the figure comes from: the table row's name, or '--peak-gbps'. */
  source: string;
}

/** The floor's bandwidth: the override if given, else the adapter's row; null where neither exists. */
export function peakBandwidth(adapterName: string, override?: number): Peak | null {
  if (override !== undefined) return { gbps: override, source: '--peak-gbps' };
  const row = PEAKS.find((p) => p.pattern.test(adapterName));
  return row ? { gbps: row.gbps, source: row.name } : null;
}
