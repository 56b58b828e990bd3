/**
 * Logs and progress: a progress bar when stderr is a terminal, structured pino logs otherwise
 * (so long jobs in CI or under a scheduler still say where they are).
 */
import pino, { type Logger } from 'pino';
import cliProgress from 'cli-progress';

export type { Logger };

export function createLogger(level = process.env.CSATTN_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: undefined }, pino.destination(2));
}

export interface Progress {
  update(done: number, info?: Record<string, string | number>): void;
  stop(): void;
}

/** A bar on a TTY; otherwise a log line at most every `everyMs`. */
export function progress(log: Logger, phase: string, total: number, unit = 'tokens', everyMs = 2000): Progress {
  const start = Date.now();
  if (process.stderr.isTTY && log.isLevelEnabled('info')) {
    const bar = new cliProgress.SingleBar({
      format: `${phase.padEnd(8)} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    }, cliProgress.Presets.shades_classic);
    bar.start(total, 0, { rate: '0' });
    return {
      update: (done, info) => bar.update(done, { rate: rate(done, start), ...info }),
      stop: () => bar.stop(),
    };
  }
  let last = 0;
  return {
    update(done, info) {
      const now = Date.now();
      const all = typeof info?.total === 'number' ? info.total : total; // a total learnt on the way (a load's bytes)
      if (now - last < everyMs && done < all) return;
      last = now;
      log.info({ phase, done, total: all, unit, rate: Number(rate(done, start)), ...info }, `${phase} ${done}/${all} ${unit}`);
    },
    stop() {},
  };
}

function rate(done: number, start: number): string {
  const s = (Date.now() - start) / 1000;
  return s > 0 ? (done / s).toFixed(1) : '0';
}
