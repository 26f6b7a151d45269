// A progress bar on stderr that appears only for runs that last: it starts once `delayMs` (about a second) has
// passed, never when stderr is not a terminal, never with --json. cli-progress draws it.
import cliProgress from 'cli-progress';

export interface ProgressOptions {
  enabled: boolean;
  stream?: NodeJS.WritableStream;
  /** Show the bar only after this long (ms). */
  delayMs?: number;
  /** What is counted, shown after the numbers. */
  unit?: string;
  now?: () => number;
}

export interface Progress {
  /** Report `done` of `total` units. Cheap when the bar is off. */
  update(done: number, total: number): void;
  /** Remove the bar (on success, failure or abort). */
  stop(): void;
  /** Whether the bar was ever drawn (for tests). */
  readonly shown: boolean;
}

export function createProgress(opts: ProgressOptions): Progress {
  const now = opts.now ?? (() => Date.now());
  const start = now();
  const delay = opts.delayMs ?? 1000;
  let bar: cliProgress.SingleBar | null = null;
  let stopped = false;
  let shown = false;
  return {
    update(done, total) {
      if (!opts.enabled || stopped) return;
      if (!bar) {
        if (now() - start < delay) return;
        bar = new cliProgress.SingleBar(
          {
            stream: opts.stream ?? process.stderr,
            // elapsed is ours: the bar starts after the delay, so its own duration would miss the first second.
            format: `{bar} {percentage}% | {value}/{total} ${opts.unit ?? ''} | {elapsed} elapsed, ETA {eta_formatted}`,
            hideCursor: true,
            clearOnComplete: true,
            fps: 10,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(total, done, { elapsed: formatSeconds((now() - start) / 1000) });
        shown = true;
        return;
      }
      bar.setTotal(total);
      bar.update(done, { elapsed: formatSeconds((now() - start) / 1000) });
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar?.stop();
    },
    get shown() {
      return shown;
    },
  };
}

function formatSeconds(s: number): string {
  if (s < 60) return `${Math.floor(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
