// The store process:
//   node packages/store/dist/store-main.js --store-id 1 --data-dir D --port 0 --raft-port 0 \
//     --peers 2=127.0.0.1:7002,3=127.0.0.1:7003 [--bootstrap 1,2,3] [--admin-stdin [--fault-injection]]
//
// stdout carries machine-readable events, one JSON object per line:
//   {"event":"ready","storeId":1,"kvPort":...,"raftPort":...,"httpPort":...}   serving (httpPort null: --http-port off)
//   {"event":"peers","count":2}                                  admin peers command applied
//   {"event":"faults","ok":true} / {..."ok":false,"error":"..."}  admin faults command applied / refused
//   {"event":"stopped","storeId":1}                              graceful stop done
// Logs go to stderr (pino JSON lines, synchronous: nothing is lost at exit; --log-level).
// Flags (store-flags.ts) may also come from RANGEKV_<FLAG> variables and a --config JSON file.
// HTTP: /metrics, /health, /debug/ranges on --http-port (http-status.ts). Exit codes: 0 after a graceful stop (SIGTERM/SIGINT),
// 2 for bad flags, 1 when the store cannot start or hits a fatal error.
//
// Addresses: the servers listen on --host (0.0.0.0 or :: = every interface); PD, the other
// stores and clients are told --advertise-host (default --host) with the bound ports.
// Ports: with --port 0 / --raft-port 0 the OS picks them and the ready line reports them.
// Peers can then be told each other's raft addresses with --admin-stdin: write
// {"peers":{"2":"127.0.0.1:41234"}} lines to the process's stdin (any time; a changed
// address is used at the next reconnect). Stores may start in any order: the transport
// keeps retrying with backoff.
//
// Tests only: with --fault-injection, {"faults":{...}} lines cut raft traffic to or from
// peer stores and slow the disk (fault-injection.ts: dropTo, dropFrom, heal, syncDelayMs).
// Each {"faults":...} line is answered; a refused one changes nothing. Without the flag
// each is refused, so a nemesis cannot believe it injected a fault that never happened.
import {
  channelCredentials, createLogger, emitEvent, exitOnStopSignals, FlagError, installSecurity, MallocTrimmer, parseAddress, peersCommand, readAdminStdin,
  securityFrom, type AdminCommand, type Logger, type Security,
} from '@rangekv/runtime';
import { dataDirStoreId } from './bootstrap.js';
import { allocStoreId } from './pd-link.js';
import { parseStoreFlags, STORE_USAGE, type StoreFlags } from './store-flags.js';
import { StoreServer } from './store-server.js';

/** The faults admin command: always answered, ok or not (a refusal is logged and changes nothing). */
function faultsCommand(server: StoreServer, enabled: boolean, log: Logger): AdminCommand {
  return (cmd) => {
    try {
      if (!enabled) throw new Error('fault injection is off: start the store with --fault-injection');
      server.applyFaults(cmd);
      return { event: 'faults', ok: true };
    } catch (e) {
      log.warn('faults command refused', { faults: cmd, err: e });
      return { event: 'faults', ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  };
}

async function main(): Promise<void> {
  let flags: StoreFlags;
  let security: Security;
  try {
    flags = parseStoreFlags(process.argv.slice(2), { env: process.env });
    security = securityFrom(flags.tls);
    const certified = security.certs?.identity;
    if (certified !== undefined) {
      // With TLS the certificate names the store: peers and PD check it against every claim.
      if (certified.role !== 'store') throw new FlagError(`--tls-cert-file names ${certified.role} ${certified.name}; a store needs a certificate naming rangekv://store/ID`);
      if (flags.storeId !== 0 && flags.storeId !== certified.id) throw new FlagError(`--store-id ${flags.storeId} but --tls-cert-file names store ${certified.id}`);
      flags.storeId = certified.id!;
    }
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    process.stderr.write(`store-main: ${e.message}\n${STORE_USAGE}\n`);
    process.exit(2);
  }
  if (flags.help) {
    process.stdout.write(`${STORE_USAGE}\n`);
    process.exit(0);
  }
  if (flags.storeId === 0) {
    // With --pd and no --store-id: the data dir's identity, else a fresh id from PD.
    try {
      flags.storeId = dataDirStoreId(flags.dataDir) ?? (await allocStoreId(flags.pd, 30_000, channelCredentials(security.certs)));
    } catch (e) {
      process.stderr.write(`store-main: cannot get a store id (data dir ${flags.dataDir}, PD ${flags.pd.join(',')}): ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    }
  }
  const log = createLogger({ storeId: flags.storeId }, { level: flags.logLevel });
  installSecurity(security, log, `store ${flags.storeId}`);
  let server: StoreServer | undefined;
  const onFatal = (): void => {
    // The server is stopping itself; leave once it has (or after a grace period).
    setTimeout(() => process.exit(1), 5_000).unref();
    void (server ? server.stop() : Promise.resolve()).finally(() => process.exit(1));
  };
  try {
    if (flags.bootstrap) {
      await StoreServer.bootstrap(flags.dataDir, { storeIds: flags.bootstrap, thisStore: flags.storeId });
      log.info('bootstrapped range 1', { storeId: flags.storeId, stores: flags.bootstrap });
    }
    server = await StoreServer.start({
      storeId: flags.storeId, dataDir: flags.dataDir, ...(flags.pd.length > 0 ? { pd: flags.pd } : {}), listenHost: flags.host, advertiseHost: flags.advertiseHost,
      grpcPort: flags.port,
      raftPort: flags.raftPort, httpPort: flags.httpPort, processMetrics: true, peers: flags.peers, tickMs: flags.tickMs, applyWorkers: flags.applyWorkers,
      electionTimeoutTicks: flags.electionTicks, heartbeatIntervalTicks: flags.heartbeatTicks, log,
      logCompaction: flags.logCompaction, uninitialized: flags.uninitialized, replicaGc: flags.replicaGc, sizeCheck: flags.sizeCheck,
      labels: flags.labels, storage: { limits: flags.storageMemory }, scheduler: flags.scheduler,
      security,
      onFatal,
    });
  } catch (e) {
    process.stderr.write(`store-main: cannot start store ${flags.storeId}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
  const running = server;
  const trimmer = new MallocTrimmer({
    intervalMs: flags.mallocTrimIntervalMs, log,
    onTrim: (released, seconds) => running.metrics.mallocTrimSeconds.observe({ released: String(released) }, seconds),
    reclaim: {
      growthBytes: flags.reclaimGrowthBytes,
      // The global --expose-gc gives (runtime STORE_NODE_FLAGS); without it, the trim alone.
      gc: typeof globalThis.gc === 'function' ? () => globalThis.gc!() : null,
      onReclaim: (r) => {
        if (r.gcSeconds !== null) running.metrics.reclaimGcSeconds.observe(r.gcSeconds);
        running.metrics.reclaimFreedBytes.inc(r.freedBytes);
        log.debug('memory reclaimed after a burst', { gcMs: r.gcSeconds === null ? null : Math.round(r.gcSeconds * 1e4) / 10, freedBytes: r.freedBytes });
      },
    },
  });
  trimmer.start();
  exitOnStopSignals({ log, stop: () => { trimmer.stop(); return running.stop(); }, failed: () => running.fatal !== null, stopped: { storeId: flags.storeId } });
  if (flags.adminStdin) {
    readAdminStdin(log, {
      peers: peersCommand((id, addr) => {
        const storeId = Number(id);
        if (!Number.isSafeInteger(storeId) || storeId <= 0 || storeId === flags.storeId) throw new Error(`bad peer store id ${id}`);
        if (typeof addr !== 'string') throw new Error(`peer ${id}: address must be a string`);
        running.setPeer(storeId, parseAddress(`peer ${id}`, addr));
      }),
      faults: faultsCommand(running, flags.faultInjection, log),
    });
  }
  emitEvent({ event: 'ready', storeId: flags.storeId, kvPort: running.kvPort, raftPort: running.raftPort, httpPort: running.httpPort });
}

void main();
