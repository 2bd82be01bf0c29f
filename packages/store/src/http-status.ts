// The store's HTTP status server (node:http), for operators and scrapers:
//
//   GET /metrics                       Prometheus text format (StoreMetrics)
//   GET /health                        200 {"storeId":1,"status":"serving","ranges":n,"leaders":m}
//                                      503 {"storeId":1,"status":"starting"|"stopping"|"failed","reason":"..."}
//   GET /debug/ranges?limit=N&after=R  200 {"storeId":1,"ranges":[...],"next":R|null}: ranges with id > R
//                                      (default 0), at most N (default defaultDebugRangesPerPage, at most
//                                      maxDebugRangesPerPage); byte fields (keys) as hex strings
//   other paths 404; other methods on these paths 405 (GET and HEAD only); bad query 400.
//
//   const h = await HttpStatusServer.start({ host: '127.0.0.1', port: 0, source });
//   h.port; await h.stop();
//
// It serves plain data from a StatusSource (the StoreServer): this file knows nothing of
// raft or storage, so it is tested with a fake source.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { statusHttpServer, type CertificateSource } from '@rangekv/runtime';

export type StoreHealth =
  | { storeId: number; status: 'serving'; ranges: number; leaders: number }
  | { storeId: number; status: 'starting' | 'stopping' | 'failed'; reason: string };

/** One page of range statuses, ascending by range id, each with a numeric `rangeId`. */
export interface RangesPage {
  ranges: readonly { rangeId: number }[];
  /** Pass as `after` for the next page; null when this was the last one. */
  next: number | null;
}

export interface StatusSource {
  readonly storeId: number;
  health(): StoreHealth;
  /** Ranges with id > after, at most `limit`. */
  ranges(after: number, limit: number): RangesPage;
  metricsText(): Promise<string>;
  readonly metricsContentType: string;
}

export interface HttpStatusLimits {
  /** /debug/ranges without ?limit. */
  defaultDebugRangesPerPage: number;
  /** Largest ?limit accepted by /debug/ranges (above: 400). */
  maxDebugRangesPerPage: number;
  /** Requests taking longer (headers + handling) are cut. */
  requestTimeoutMs: number;
}

export const DEFAULT_HTTP_STATUS_LIMITS: HttpStatusLimits = {
  defaultDebugRangesPerPage: 100,
  maxDebugRangesPerPage: 1000,
  requestTimeoutMs: 10_000,
};

export interface HttpStatusOptions {
  host: string;
  /** 0 = ephemeral: read `port`. */
  port: number;
  source: StatusSource;
  limits?: Partial<HttpStatusLimits>;
  /** Called when a handler throws (a bug): the client gets 500. */
  onError?: (err: unknown) => void;
  /** Serve HTTPS with this certificate (--http-tls); default plain HTTP. */
  tls?: CertificateSource | null;
}

class BadRequest extends Error {}

/** Parses a non-negative integer query parameter; `fallback` when absent. */
function intParam(q: URLSearchParams, name: string, fallback: number): number {
  const v = q.get(name);
  if (v === null) return fallback;
  if (!/^\d{1,15}$/.test(v)) throw new BadRequest(`${name} must be a non-negative integer, got "${v}"`);
  return Number(v);
}

/** JSON with byte arrays as hex strings (descriptors carry keys as Uint8Array). */
export function toJson(v: unknown): string {
  // The holder's own value: a Buffer's toJSON() has already run on `x`.
  return JSON.stringify(v, function (this: Record<string, unknown>, k: string, x: unknown) {
    const raw = this[k];
    return raw instanceof Uint8Array ? Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex') : x;
  });
}

export class HttpStatusServer {
  readonly limits: HttpStatusLimits;

  private constructor(private readonly server: Server, private readonly opts: HttpStatusOptions, limits: HttpStatusLimits) {
    this.limits = limits;
  }

  static async start(opts: HttpStatusOptions): Promise<HttpStatusServer> {
    const limits = { ...DEFAULT_HTTP_STATUS_LIMITS, ...(opts.limits ?? {}) };
    if (limits.defaultDebugRangesPerPage < 1 || limits.defaultDebugRangesPerPage > limits.maxDebugRangesPerPage) {
      throw new RangeError('defaultDebugRangesPerPage must be in [1, maxDebugRangesPerPage]');
    }
    let self: HttpStatusServer | null = null;
    const handler = (req: IncomingMessage, res: ServerResponse): void => self!.handle(req, res);
    const server = opts.tls ? statusHttpServer(opts.tls, handler) : createServer(handler);
    server.requestTimeout = limits.requestTimeoutMs;
    server.headersTimeout = Math.min(limits.requestTimeoutMs, 60_000);
    self = new HttpStatusServer(server, opts, limits);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return self;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and closes every connection (keep-alive ones too). */
  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    void this.route(req, res).catch((e: unknown) => {
      this.opts.onError?.(e);
      if (!res.headersSent) this.send(res, 500, 'text/plain; charset=utf-8', `internal error: ${e instanceof Error ? e.message : String(e)}\n`);
      else res.destroy();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://status.invalid');
    const routes: Record<string, () => Promise<void> | void> = {
      '/metrics': async () => this.send(res, 200, this.opts.source.metricsContentType, await this.opts.source.metricsText()),
      '/health': () => {
        const h = this.opts.source.health();
        this.json(res, h.status === 'serving' ? 200 : 503, h);
      },
      '/debug/ranges': () => this.debugRanges(url.searchParams, res),
    };
    const handler = routes[url.pathname];
    if (handler === undefined) {
      this.send(res, 404, 'text/plain; charset=utf-8', `not found: ${url.pathname} (try /metrics, /health, /debug/ranges)\n`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      this.send(res, 405, 'text/plain; charset=utf-8', `method ${req.method ?? '?'} not allowed on ${url.pathname}\n`);
      return;
    }
    try {
      await handler();
    } catch (e) {
      if (!(e instanceof BadRequest)) throw e;
      this.send(res, 400, 'text/plain; charset=utf-8', `bad request: ${e.message}\n`);
    }
  }

  private debugRanges(q: URLSearchParams, res: ServerResponse): void {
    const lim = this.limits;
    const limit = intParam(q, 'limit', lim.defaultDebugRangesPerPage);
    if (limit < 1 || limit > lim.maxDebugRangesPerPage) {
      throw new BadRequest(`limit must be in [1, ${lim.maxDebugRangesPerPage}] (maxDebugRangesPerPage), got ${limit}`);
    }
    const after = intParam(q, 'after', 0);
    const page = this.opts.source.ranges(after, limit);
    this.json(res, 200, { storeId: this.opts.source.storeId, ranges: page.ranges, next: page.next });
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    this.send(res, code, 'application/json; charset=utf-8', toJson(body) + '\n');
  }

  private send(res: ServerResponse, code: number, contentType: string, body: string): void {
    res.writeHead(code, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    res.end(res.req.method === 'HEAD' ? undefined : body);
  }
}
