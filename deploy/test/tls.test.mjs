// The TLS walkthrough of deploy/tls/README.md, run for real on 127.0.0.1: a CA and
// certificates from deploy/tls/make-certs.sh, one PD and one store started with the same
// `rangekv pd|store` commands the systemd units run plus the --tls-* flags, and
// `rangekv kv` / `rangekv ctl` with an admin certificate, an application certificate, an
// admin token, and in plaintext. Needs openssl (skipped without it) and a build
// (`npm test` builds first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { request as httpsRequest } from 'node:https';
import { MAKE_CERTS, deployDir, cliSkip, freePort, killAll, makeCerts, runCli as cli, startServer as start, tlsFlags } from './procs.mjs';

const skip = cliSkip();

test('TLS walkthrough: make-certs.sh, a TLS PD and store, kv and ctl with certificates and a token', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rangekv-deploy-tls-'));
  const procs = [];
  t.after(async () => {
    await killAll(procs);
    rmSync(dir, { recursive: true, force: true });
  });
  const pki = join(dir, 'pki');
  const mk = (...a) => makeCerts(pki, ...a);
  mk('ca');
  mk('pd', '1', 'localhost', '127.0.0.1');
  mk('store', '1', 'localhost', '127.0.0.1');
  mk('admin', 'ops');
  mk('client', 'app');
  assert.equal(statSync(join(pki, 'store-1.key')).mode & 0o077, 0, 'keys are private');
  assert.match(spawnSync('sh', [MAKE_CERTS, 'ca'], { env: { ...process.env, PKI_DIR: pki }, encoding: 'utf8' }).stderr, /ca\.key exists/);
  const token = join(dir, 'admin.token');
  writeFileSync(token, 'walkthrough-admin-token-0123456789\n', { mode: 0o600 });

  const tls = (name) => tlsFlags(pki, name);
  const pd = await start(['pd', '--id', '1', '--data-dir', join(dir, 'pd'), '--port', '0', '--raft-port', '0', '--http-port', '0',
    '--initial-stores', '1', '--replica-count', '1', '--admin-token-file', token, ...tls('pd-1')]);
  procs.push(pd.proc);
  const pdAddr = `127.0.0.1:${pd.ready.port}`;
  const store = await start(['store', '--data-dir', join(dir, 'store'), '--pd', pdAddr, '--port', '0', '--raft-port', '0', '--http-port', String(await freePort()), '--http-tls',
    // No client certificates asked on the store's KV port: its admin RPCs then need the token, which PD sends.
    '--tls-client-auth', 'none', '--admin-token-file', token, ...tls('store-1')]);
  procs.push(store.proc);
  assert.equal(store.ready.storeId, 1, 'the store id comes from its certificate');

  // --http-tls: /health over HTTPS, verified with the CA; the image's healthcheck follows.
  const health = await httpsGet(Number(store.ready.httpPort), '/health', readFileSync(join(pki, 'ca.pem')));
  assert.equal(health.status, 200, health.body);
  const hc = spawnSync(process.execPath, [join(deployDir, 'docker', 'healthcheck.mjs')], {
    encoding: 'utf8', env: { ...process.env, RANGEKV_HEALTHCHECK_PID: String(store.proc.pid) },
  });
  assert.equal(hc.status, 0, hc.stderr);

  const as = (name) => ['--pd', pdAddr, ...tlsFlags(pki, name)];
  let put;
  for (let i = 0; i < 60; i++) {
    put = cli(['kv', 'put', 'k', 'v', ...as('client-app'), '--timeout', '5s']);
    if (put.code === 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.equal(put.code, 0, put.err);
  assert.equal(cli(['kv', 'get', 'k', ...as('client-app')]).out, 'v');

  const plain = cli(['kv', 'get', 'k', '--pd', pdAddr, '--timeout', '3s']);
  assert.notEqual(plain.code, 0);
  assert.match(plain.err, /speaks TLS and this client connects in plaintext/);

  const denied = cli(['ctl', 'split', 'm', ...as('client-app'), '--timeout', '10s']);
  assert.notEqual(denied.code, 0);
  assert.match(denied.err, /needs an admin certificate/);
  assert.equal(cli(['ctl', 'split', 'm', ...as('admin-ops'), '--timeout', '20s']).code, 0);
  const byToken = cli(['ctl', 'split', 't', ...as('client-app'), '--admin-token-file', token, '--timeout', '20s']);
  assert.equal(byToken.code, 0, byToken.err);
  assert.equal(cli(['kv', 'get', 'k', ...as('client-app')]).out, 'v');

  // Rotation: a new certificate for the store, then SIGHUP to the `rangekv store` process
  // (what the unit's ExecReload sends): new connections get the new certificate.
  const storeKv = Number(store.ready.kvPort);
  const before = await servedSerial(storeKv);
  mk('store', '1', 'localhost', '127.0.0.1');
  store.proc.kill('SIGHUP');
  let after = before;
  for (let i = 0; i < 100 && after === before; i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = await servedSerial(storeKv);
  }
  assert.notEqual(after, before, 'the reloaded certificate is served');
  assert.equal(store.proc.exitCode, null, 'SIGHUP does not stop the store');
  assert.equal(cli(['kv', 'get', 'k', ...as('client-app')]).out, 'v');
});


function httpsGet(port, path, ca) {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, ca, servername: 'localhost' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function servedSerial(port) {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ALPNProtocols: ['h2'], rejectUnauthorized: false }, () => {
      const serial = s.getPeerCertificate().serialNumber;
      s.destroy();
      resolve(serial);
    });
    s.on('error', reject);
  });
}
