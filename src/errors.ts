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
