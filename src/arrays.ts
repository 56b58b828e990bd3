/**
 * Maximum, minimum and append for arrays of any length: spreading an array into a call
 * (Math.max(...xs), push(...xs)) overflows the stack past about 100K elements. And an async map
 * that runs one item at a time.
 */

/** The largest of `xs`, or `start` if larger (so `start` is the answer for none). */
export function maxOf(xs: Iterable<number>, start = -Infinity): number {
  let m = start;
  for (const x of xs) if (x > m) m = x;
  return m;
}

/** The smallest of `xs`, or `start` if smaller. */
export function minOf(xs: Iterable<number>, start = Infinity): number {
  let m = start;
  for (const x of xs) if (x < m) m = x;
  return m;
}

/** log Σ exp(x) over `xs`, computed from the largest (no overflow). */
export function logSumExp(xs: ArrayLike<number> & Iterable<number>): number {
  const m = maxOf(xs);
  let s = 0;
  for (const x of xs) s += Math.exp(x - m);
  return m + Math.log(s);
}

/** Appends every item to `into`. */
export function pushAll<T>(into: T[], items: Iterable<T>): void {
  for (const item of items) into.push(item);
}

/** [build(0), ..., build(n - 1)], each started when the one before has finished (as GPU builds that each take the device). */
export async function mapInOrder<T>(n: number, build: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await build(i));
  return out;
}
