// The PD process:
//   node packages/pd/dist/pd-main.js --id 1 --data-dir D [--port 0 --raft-port 0]
//     [--peers 2=H:R/H:P,3=H:R/H:P] [--initial-stores 3] [--http-port 0|P|off] [--admin-stdin]
//
// stdout: one JSON event per line:
//   {"event":"ready","pdId":1,"port":P,"raftPort":R,"httpPort":H}   serving (httpPort null: off)
//   {"event":"peers","count":n}                                     admin peers command applied
//   {"event":"stopped","pdId":1}                                    graceful stop done
// Addresses: the servers listen on --host (0.0.0.0 or :: = every interface); this node's
// client address as PD gives it out (GetMembers, not_leader) is --advertise-host (default
// --host) with the bound port.
// Logs: pino JSON lines on stderr. Exit: 0 after SIGTERM/SIGINT, 2 bad flags (usage on
// stderr), 1 when PD cannot start or fails. Flags (pd-flags.ts) may also come from
// RANGEKV_<FLAG> variables and a --config JSON file.
import {
  createLogger, emitEvent, exitOnStopSignals, FlagError, installSecurity, readPeersFromStdin, securityFrom, type Security,
} from '@rangekv/runtime';
import { parsePdFlags, parsePeerAddress, PD_USAGE, type PdFlags } from './pd-flags.js';
import { PdServer } from './pd-server.js';

async function main(): Promise<void> {
  let flags: PdFlags;
  let security: Security;
  try {
    flags = parsePdFlags(process.argv.slice(2), { env: process.env });
    security = securityFrom(flags.tls);
    const certified = security.certs?.identity;
    // With TLS the certificate names the node: the other members check it on every stream.
    if (certified !== undefined && !(certified.role === 'pd' && certified.id === flags.id)) {
      throw new FlagError(`--tls-cert-file names ${certified.role} ${certified.name || '(no rangekv identity)'}; PD ${flags.id} needs a certificate naming rangekv://pd/${flags.id}`);
    }
  } catch (e) {
    if (!(e instanceof FlagError)) throw e;
    process.stderr.write(`pd-main: ${e.message}\n${PD_USAGE}\n`);
    process.exit(2);
  }
  if (flags.help) {
    process.stdout.write(PD_USAGE + '\n');
    process.exit(0);
  }
  const log = createLogger({}, { level: flags.logLevel });
  installSecurity(security, log, `PD ${flags.id}`);
  let server: PdServer | undefined;
  try {
    server = await PdServer.start({
      pdId: flags.id, dataDir: flags.dataDir, listenHost: flags.host, advertiseHost: flags.advertiseHost, port: flags.port, raftPort: flags.raftPort,
      peers: flags.peers, join: flags.join, initialStores: flags.initialStores, httpPort: flags.httpPort, processMetrics: true,
      tickMs: flags.tickMs, electionTimeoutTicks: flags.electionTicks, heartbeatIntervalTicks: flags.heartbeatTicks, log,
      leaderBalance: flags.leaderBalance, replicaChecker: flags.replicaChecker, replicaBalance: flags.replicaBalance, splitChecker: flags.splitChecker,
      hotBalance: flags.hotBalance, mergeChecker: flags.mergeChecker, locationLabels: flags.locationLabels, security,
      limits: {
        leaderBalanceIntervalMs: flags.leaderBalanceIntervalMs, leaderBalanceWarmupMs: flags.leaderBalanceWarmupMs,
        replicaCount: flags.replicaCount, maxStoreDownTimeMs: flags.maxStoreDownTimeMs, storeDownAfterMs: flags.storeDownAfterMs,
        rangeSplitBytes: flags.rangeSplitBytes, rangeSplitKeys: flags.rangeSplitKeys,
      },
      onFatal: () => {
        // PD stops itself; leave once it has (or after a grace period).
        setTimeout(() => process.exit(1), 5_000).unref();
        void (server ? server.stop() : Promise.resolve()).finally(() => process.exit(1));
      },
    });
  } catch (e) {
    process.stderr.write(`pd-main: cannot start PD ${flags.id}: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
  const running = server;
  exitOnStopSignals({ log, stop: () => running.stop(), failed: () => running.group.fatal !== null, stopped: { pdId: flags.id } });
  if (flags.adminStdin) {
    readPeersFromStdin(log, (id, addr) => {
      if (typeof addr !== 'string') throw new Error(`peer ${id}: expected "RAFTHOST:RAFTPORT/HOST:PORT"`);
      running.setPeer(Number(id), parsePeerAddress(`peer ${id}`, addr));
    });
  }
  emitEvent({ event: 'ready', pdId: flags.id, port: running.port, raftPort: running.raftPort, httpPort: running.httpPort });
}

void main();
