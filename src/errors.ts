/**
 * Errors meant for the user: the CLI prints `csattn: <message>` on one line and exits non-zero.
 * Anything else that escapes is a bug and is printed the same way, so messages must stand alone.
 */
export class CsattnError extends Error {
  constructor(message: string, readonly kind: string = 'error') {
    super(message);
    this.name = 'CsattnError';
  }
}

/** Throws a CsattnError when `cond` is false. */
export function check(cond: unknown, message: string | (() => string), kind = 'error'): asserts cond {
  if (!cond) throw new CsattnError(typeof message === 'string' ? message : message(), kind);
}

/** An error as the one line the CLI prints: line breaks inside a message (a template's own text, say) become spaces. */
export function errorLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return `csattn: ${message.replace(/\s*[\r\n\u2028\u2029]+\s*/g, ' ').trim()}`;
}
