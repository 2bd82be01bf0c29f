// A progress line for the long phases of a bench (splits, leader balancing, preload, load):
// on a terminal one line rewritten in place (at most every `ttyEveryMs`), otherwise (a log
// file, CI) one line every `everyMs`, so a redirected run still shows it is alive without
// flooding the log. done() ends the line; what it is given stays as an ordinary line.
//
//   const p = new Progress('  rangekv: ');
//   for (...) p.update(`splitting ${i}/${n} ranges`);
//   p.done(`${n} ranges in 8.1 s`);

/** What the phases report to; Progress is the one implementation besides test fakes. */
export interface ProgressLine {
  update(text: string): void;
  /** Ends the line; `text` (if any) is printed as an ordinary line. */
  done(text?: string): void;
}

export interface ProgressOptions {
  /** Rewrite one line in place (default: stdout is a terminal). */
  tty?: boolean;
  /** Without a terminal, at most one line per this many ms (default 5,000). */
  everyMs?: number;
  /** On a terminal, at most one rewrite per this many ms (default 100). */
  ttyEveryMs?: number;
  write?: (s: string) => void;
  now?: () => number;
}

const CLEAR_LINE = '\r\x1b[K';

export class Progress implements ProgressLine {
  private readonly tty: boolean;
  private readonly everyMs: number;
  private readonly write: (s: string) => void;
  private readonly now: () => number;
  private last = -Infinity;
  /** A rewritten line is on the terminal (done() must clear it). */
  private shown = false;

  constructor(private readonly prefix = '', o: ProgressOptions = {}) {
    this.tty = o.tty ?? process.stdout.isTTY === true;
    this.everyMs = this.tty ? (o.ttyEveryMs ?? 100) : (o.everyMs ?? 5_000);
    this.write = o.write ?? ((s) => void process.stdout.write(s));
    this.now = o.now ?? (() => performance.now());
  }

  update(text: string): void {
    const t = this.now();
    if (t - this.last < this.everyMs) return;
    this.last = t;
    if (this.tty) {
      this.write(`${CLEAR_LINE}${this.prefix}${text}`);
      this.shown = true;
    } else {
      this.write(`${this.prefix}${text}\n`);
    }
  }

  done(text?: string): void {
    if (this.shown) this.write(CLEAR_LINE);
    this.shown = false;
    this.last = -Infinity;
    if (text !== undefined) this.write(`${this.prefix}${text}\n`);
  }

  /** Calls update(text()) every `ms` until the returned function is called (a timed phase). */
  every(ms: number, text: () => string): () => void {
    this.update(text());
    const timer = setInterval(() => this.update(text()), ms);
    timer.unref();
    return () => clearInterval(timer);
  }
}
