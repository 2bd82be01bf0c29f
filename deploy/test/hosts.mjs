// The multi-host test (`pnpm test:hosts`, root only): PD and three stores, each in a network
// namespace of its own with its own address on a bridge, started with the systemd units'
// commands (`rangekv pd|store` with the units' fixed ports) listening on 0.0.0.0 and
// advertising the namespace's address, with mutual TLS from deploy/tls/make-certs.sh. A
// client in a fifth namespace writes and reads through `rangekv kv`; one store host's link
// is cut (its veth taken down) and writes go on; the link is healed and the host serves
// again. Skipped with a message where namespaces cannot be made (not root, no `ip`).
//
//   pnpm test:hosts        (node --test deploy/test/hosts.mjs after a build)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliSkip, killAll, makeCerts, runCli, startServer, tlsFlags } from './procs.mjs';

const TAG = `rk${process.pid % 10_000}`;
const BRIDGE = `${TAG}br`;
const SUBNET = '10.231.0';
const HOSTS = {
  pd: { ns: `${TAG}-pd`, ip: `${SUBNET}.10` },
  s1: { ns: `${TAG}-s1`, ip: `${SUBNET}.11` },
  s2: { ns: `${TAG}-s2`, ip: `${SUBNET}.12` },
  s3: { ns: `${TAG}-s3`, ip: `${SUBNET}.13` },
  client: { ns: `${TAG}-cl`, ip: `${SUBNET}.20` },
};
const vethOf = (name) => `${TAG}${name}h`;

function ip(...args) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function whyNot() {
  const base = cliSkip();
  if (base) return base;
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const probe = `${TAG}-probe`;
  const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
  if (r.status !== 0) return `cannot make a network namespace: ${(r.stderr || r.error?.message || '').trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return false;
}

function setUp() {
  ip('link', 'add', BRIDGE, 'type', 'bridge');
  ip('addr', 'add', `${SUBNET}.1/24`, 'dev', BRIDGE);
  ip('link', 'set', BRIDGE, 'up');
  for (const [name, h] of Object.entries(HOSTS)) {
    ip('netns', 'add', h.ns);
    ip('link', 'add', vethOf(name), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
    ip('link', 'set', vethOf(name), 'master', BRIDGE, 'up');
    ip('-n', h.ns, 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0');
    ip('-n', h.ns, 'link', 'set', 'eth0', 'up');
    ip('-n', h.ns, 'link', 'set', 'lo', 'up');
  }
}

function tearDown() {
  for (const [name, h] of Object.entries(HOSTS)) {
    spawnSync('ip', ['link', 'del', vethOf(name)]);
    spawnSync('ip', ['netns', 'del', h.ns]);
  }
  spawnSync('ip', ['link', 'del', BRIDGE]);
}

const inNs = (h) => ['ip', 'netns', 'exec', h.ns];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const skip = whyNot();

test('PD and 3 stores on their own hosts (namespaces) with mutual TLS: a remote client writes through a cut and a heal', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rangekv-hosts-'));
  const procs = [];
  t.after(async () => {
    await killAll(procs);
    tearDown();
    rmSync(dir, { recursive: true, force: true });
  });
  setUp();
  const pki = join(dir, 'pki');
  makeCerts(pki, 'ca');
  makeCerts(pki, 'pd', '1', HOSTS.pd.ip);
  for (const id of [1, 2, 3]) makeCerts(pki, 'store', String(id), HOSTS[`s${id}`].ip);
  makeCerts(pki, 'admin', 'ops');
  const pdAddr = `${HOSTS.pd.ip}:2379`;

  // The units' commands (deploy/systemd), with the host settings of their env files as flags.
  const pd = await startServer(['pd', '--data-dir', join(dir, 'pd'), '--port', '2379', '--raft-port', '2380', '--http-port', '2381',
    '--host', '0.0.0.0', '--advertise-host', HOSTS.pd.ip, '--id', '1', '--initial-stores', '3', ...tlsFlags(pki, 'pd-1')], { prefix: inNs(HOSTS.pd) });
  procs.push(pd.proc);
  for (const id of [1, 2, 3]) {
    const h = HOSTS[`s${id}`];
    const s = await startServer(['store', '--data-dir', join(dir, `store-${id}`), '--port', '20160', '--raft-port', '20161', '--http-port', '20162',
      '--host', '0.0.0.0', '--advertise-host', h.ip, '--pd', pdAddr, ...tlsFlags(pki, `store-${id}`)], { prefix: inNs(h) });
    procs.push(s.proc);
    assert.equal(s.ready.storeId, id);
  }

  const client = inNs(HOSTS.client);
  const as = ['--pd', pdAddr, ...tlsFlags(pki, 'admin-ops')];
  const kv = (...args) => runCli(['kv', ...args, ...as, '--timeout', '10s'], { prefix: client });
  const written = new Map();
  const put = async (k, v, tries = 30) => {
    let r;
    for (let i = 0; i < tries; i++) {
      r = kv('put', k, v);
      if (r.code === 0) {
        written.set(k, v);
        return;
      }
      await sleep(500);
    }
    assert.fail(`put ${k}: ${r.err}`);
  };
  for (let i = 0; i < 10; i++) await put(`before-${i}`, `v${i}`);
  assert.equal(runCli(['ctl', 'split', 'm', ...as, '--timeout', '30s'], { prefix: client }).code, 0);

  // Without the CA the client is told the cluster speaks TLS.
  const plain = runCli(['kv', 'get', 'before-1', '--pd', pdAddr, '--timeout', '3s'], { prefix: client });
  assert.match(plain.err, /speaks TLS/);

  // Cut store 3's host off the network; the other two keep a quorum of every range.
  ip('link', 'set', vethOf('s3'), 'down');
  for (let i = 0; i < 10; i++) await put(`cut-${i}`, `c${i}`);
  ip('link', 'set', vethOf('s3'), 'up');
  for (let i = 0; i < 10; i++) await put(`healed-${i}`, `h${i}`);

  for (const [k, v] of written) assert.equal(kv('get', k).out, v, k);
  // Store 3 is back: its /health answers from the client's host.
  const health = spawnSync(client[0], [...client.slice(1), process.execPath, '-e',
    `fetch('http://${HOSTS.s3.ip}:20162/health').then(r => process.exit(r.status === 200 ? 0 : 1), () => process.exit(2))`], { timeout: 10_000 });
  assert.equal(health.status, 0, 'store 3 serves /health after the heal');
  writeFileSync(join(dir, 'done'), '');
});
