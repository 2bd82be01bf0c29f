// PD's HTTP status server (node:http): GET /health and GET /metrics (prom-client, PD's own
// registry, gauges read from the server at scrape time).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { statusHttpServer, type CertificateSource } from '@rangekv/runtime';
import { STORE_HEALTH_STATES, type ClusterHealth } from './cluster-health.js';

export interface PdStatusSource {
  health(): { status: 'serving' | 'stopping'; pdId: number; isLeader: boolean; leaderId: number; term: number };
  counts(): { stores: number; ranges: number; runningOperators: number; operators: number };
  /** The leader's view of store and range health (cluster-health.ts); all zero on a follower. */
  clusterHealth(): ClusterHealth;
}

/** Request latencies: 0.25 ms .. 10 s. */
const LATENCY_BUCKETS_SECONDS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class PdHttpServer {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    readonly registry: Registry,
    private readonly grpcSeconds: Histogram<'method' | 'code'>,
    private readonly operatorsCreated: Counter<'scheduler'>,
    private readonly operatorsFinished: Counter<'scheduler' | 'status'>,
  ) {}

  /** One operator committed by this node, by who created it ('admin' or a scheduler). */
  countOperatorCreated(scheduler: string): void {
    this.operatorsCreated.inc({ scheduler });
  }

  /** An operator this node finished as the PD leader: its creator and final status. */
  countOperatorFinished(scheduler: string, status: string): void {
    this.operatorsFinished.inc({ scheduler, status });
  }

  /** One PD gRPC call: its method, status name and duration. */
  observeGrpc(method: string, code: string, seconds: number): void {
    this.grpcSeconds.observe({ method, code }, seconds);
  }

  /** `tls`: serve HTTPS with this certificate (--http-tls); null: plain HTTP. */
  static async start(host: string, port: number, src: PdStatusSource, processMetrics: boolean, tls: CertificateSource | null = null): Promise<PdHttpServer> {
    const registry = new Registry();
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
    };
    gauge('rangekv_pd_is_leader', '1 when this PD node is the serving leader', () => (src.health().isLeader ? 1 : 0));
    gauge('rangekv_pd_raft_term', 'raft term of PD\'s group on this node', () => src.health().term);
    gauge('rangekv_pd_stores', 'stores PD knows', () => src.counts().stores);
    gauge('rangekv_pd_ranges', 'ranges PD knows', () => src.counts().ranges);
    gauge('rangekv_pd_operators_running', 'operators RUNNING', () => src.counts().runningOperators);
    gauge('rangekv_pd_operators', 'operator records kept (running and finished)', () => src.counts().operators);
    // Leader only (heartbeats go to the leader): a follower exports 0 for each. One count
    // per scrape: the first gauge's collect (registered first, so collected first) sets
    // the other two, which have no collect of their own.
    const underReplicated = new Gauge({
      name: 'rangekv_pd_ranges_under_replicated', help: 'ranges with fewer voters on live stores than --replica-count; 0 on a PD follower',
      registers: [],
    });
    const withoutLeader = new Gauge({
      name: 'rangekv_pd_ranges_without_leader', help: 'ranges whose newest report names no leader, a leader on a store not live, or is older than leaderBalanceMaxReportAgeMs; 0 on a PD follower',
      registers: [],
    });
    new Gauge({
      name: 'rangekv_pd_stores_by_state', help: 'stores by PD\'s state: up / down (heartbeat within --store-down-after-ms or not), offline, tombstone; 0 on a PD follower',
      labelNames: ['state'] as const, registers: [registry],
      collect() {
        const h = src.clusterHealth();
        for (const state of STORE_HEALTH_STATES) this.set({ state }, h.storesByState[state]);
        underReplicated.set(h.rangesUnderReplicated);
        withoutLeader.set(h.rangesWithoutLeader);
      },
    });
    registry.registerMetric(underReplicated);
    registry.registerMetric(withoutLeader);
    const grpcSeconds = new Histogram({
      name: 'rangekv_pd_grpc_request_duration_seconds', help: 'PD gRPC calls until answered, by method and status',
      labelNames: ['method', 'code'] as const, buckets: LATENCY_BUCKETS_SECONDS, registers: [registry],
    });
    const operatorsCreated = new Counter({
      name: 'rangekv_pd_operators_created_total', help: 'operators this node created as the PD leader, by creator (admin or a scheduler)',
      labelNames: ['scheduler'] as const, registers: [registry],
    });
    const operatorsFinished = new Counter({
      name: 'rangekv_pd_operators_finished_total', help: 'operators this node finished as the PD leader, by creator and final status (succeeded, failed, timed_out)',
      labelNames: ['scheduler', 'status'] as const, registers: [registry],
    });
    if (processMetrics) collectDefaultMetrics({ register: registry, prefix: 'rangekv_' });
    const handler = (req: IncomingMessage, res: ServerResponse): void => void handle(req, res, src, registry);
    const server = tls ? statusHttpServer(tls, handler) : createServer(handler);
    const bound = await new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        const a = server.address();
        resolve(typeof a === 'object' && a !== null ? a.port : port);
      });
    });
    return new PdHttpServer(server, bound, registry, grpcSeconds, operatorsCreated, operatorsFinished);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, src: PdStatusSource, registry: Registry): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  if (path === '/health') {
    const h = src.health();
    res.writeHead(h.status === 'serving' ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify(h));
    return;
  }
  if (path === '/metrics') {
    try {
      const body = await registry.metrics();
      res.writeHead(200, { 'content-type': registry.contentType }).end(body);
    } catch (e) {
      res.writeHead(500).end(e instanceof Error ? e.message : String(e));
    }
    return;
  }
  res.writeHead(404).end('not found\n');
}
