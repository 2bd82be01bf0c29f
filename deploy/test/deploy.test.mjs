// Structure tests for deploy/: the Prometheus config and alert rules, their promtool unit
// tests, the Grafana dashboard, the systemd units, the container image, the Compose file and
// the Kubernetes manifests. Plain ESM for `node --test` (no build, no dependency): unit files
// and the Dockerfile are read line by line, YAML by yaml-lite.mjs (the subset these files use).
//
//   node --test deploy/test/deploy.test.mjs
//
// Metric names are checked against the code that exports them (store-metrics.ts and
// pd-http.ts, read as text), so renaming a metric there fails this test until the rules and
// the dashboard follow. When promtool is on PATH the promtool checks run as well (and the
// dashboard's queries are parsed by promtool as recording rules); when systemd-analyze is,
// the units are verified; when kubectl is, `kubectl kustomize` builds deploy/k8s. With
// tools/cli built, every command line of the units, the Compose file and the manifests is
// parsed by the CLI itself, and the image's start command is run from this checkout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseYaml, parseYamlDocuments } from './yaml-lite.mjs';
import { freePort, hasOpenssl } from './procs.mjs';
import { certNames, keyMatches, verifiesAgainst } from './cert-names.mjs';

const deployDir = dirname(dirname(fileURLToPath(import.meta.url)));
const repoRoot = dirname(deployDir);
const read = (...p) => readFileSync(join(deployDir, ...p), 'utf8');

const PROM_DIR = join(deployDir, 'prometheus');
const ALERTS = read('prometheus', 'alerts.yml');
const ALERT_TESTS = read('prometheus', 'alerts.test.yml');
const PROM_CONFIG = read('prometheus', 'prometheus.yml');

/** The signals the rules must cover (the list) plus the PD ones added beside them. */
const REQUIRED_ALERTS = [
  'RangekvLeaderChangesHigh', 'RangekvWalFsyncSlow', 'RangekvCommitLatencyHigh', 'RangekvWriteStageSlow',
  'RangekvFollowerLagHigh', 'RangekvRaftTermGrowth', 'RangekvPdTermGrowth', 'RangekvStoreDown', 'RangekvPdDown',
  'RangekvPdNoLeader', 'RangekvRangesUnderReplicated', 'RangekvRangeWithoutLeader', 'RangekvPdStoreDown',
];

/**
 * prom-client's default process metrics, which both servers export with the rangekv_ prefix
 * (collectDefaultMetrics({ prefix })): only the ones the dashboard or rules may use.
 */
const PROCESS_METRICS = [
  'process_cpu_seconds_total', 'process_cpu_user_seconds_total', 'process_cpu_system_seconds_total',
  'process_resident_memory_bytes', 'process_virtual_memory_bytes', 'process_heap_bytes', 'process_start_time_seconds',
  'process_open_fds', 'process_max_fds', 'nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p50_seconds',
  'nodejs_eventloop_lag_p90_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes',
  'nodejs_heap_size_total_bytes', 'nodejs_gc_duration_seconds',
].map((n) => 'rangekv_' + n);

/** Metric names the processes export, read from their source. */
function knownMetrics() {
  const store = readFileSync(join(repoRoot, 'packages', 'store', 'src', 'store-metrics.ts'), 'utf8');
  const pd = readFileSync(join(repoRoot, 'packages', 'pd', 'src', 'pd-http.ts'), 'utf8');
  assert.match(store, /METRIC_PREFIX = 'rangekv_'/, 'store metrics prefix');
  const names = new Set();
  for (const m of store.matchAll(/(?:counter|gauge)\('([a-z0-9_]+)'|name: P \+ '([a-z0-9_]+)'/g)) names.add('rangekv_' + (m[1] ?? m[2]));
  for (const m of pd.matchAll(/'(rangekv_pd_[a-z0-9_]+)'/g)) names.add(m[1]);
  assert.ok(names.has('rangekv_ranges') && names.has('rangekv_pd_is_leader'), `metric names not found in the sources: ${[...names].join(', ')}`);
  assert.match(store, /collectDefaultMetrics\(\{ register: this\.registry, prefix: P \}\)/, 'store process metrics');
  assert.match(pd, /collectDefaultMetrics\(\{ register: registry, prefix: 'rangekv_' \}\)/, 'PD process metrics');
  for (const n of PROCESS_METRICS) names.add(n);
  return names;
}

/** rangekv_ names in a PromQL expression that no process exports (histogram suffixes allowed). */
function unknownMetrics(expr, known) {
  const out = [];
  for (const [name] of expr.matchAll(/\brangekv_[a-z0-9_]+/g)) {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    if (!known.has(name) && !known.has(base)) out.push(name);
  }
  return out;
}

/** The rules of alerts.yml, line based: name, expr (inline or a `|` block), labels and annotations. */
function parseRules(text) {
  const rules = [];
  const lines = text.split('\n');
  let cur = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const alert = /^\s*- alert:\s*(\S+)\s*$/.exec(line);
    if (alert) {
      cur = { name: alert[1], expr: '', fields: {} };
      rules.push(cur);
      continue;
    }
    if (/^\s*- (name|record):/.test(line)) cur = null;
    if (cur === null) continue;
    const expr = /^(\s*)expr:\s*(.*)$/.exec(line);
    if (expr) {
      if (expr[2] === '|' || expr[2] === '>') {
        const indent = expr[1].length;
        const body = [];
        while (i + 1 < lines.length && (lines[i + 1].trim() === '' || lines[i + 1].search(/\S/) > indent)) body.push(lines[++i].trim());
        cur.expr = body.join(' ').trim();
      } else cur.expr = expr[2];
      continue;
    }
    const kv = /^\s*(severity|summary|runbook|for):\s*(.*)$/.exec(line);
    if (kv) cur.fields[kv[1]] = kv[2];
  }
  return rules;
}

/** For each alertname in alerts.test.yml: whether some case expects it firing, and some not. */
function parseTestCases(text) {
  const cases = new Map();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*alertname:\s*(\S+)\s*$/.exec(lines[i]);
    if (!m) continue;
    const c = cases.get(m[1]) ?? { fires: 0, quiet: 0 };
    cases.set(m[1], c);
    const next = lines.slice(i + 1).find((l) => /^\s*exp_alerts:/.test(l));
    if (next === undefined) continue;
    if (/exp_alerts:\s*\[\s*\]/.test(next)) c.quiet++;
    else c.fires++;
  }
  return cases;
}

/** `Key=value` lines of a unit file by section; repeated keys keep every value. */
function parseUnit(text) {
  const sections = {};
  let sec = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const s = /^\[(.+)\]$/.exec(line);
    if (s) {
      sec = s[1];
      sections[sec] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    assert.ok(sec !== null && eq > 0, `unit line outside a section or without '=': ${line}`);
    const key = line.slice(0, eq);
    (sections[sec][key] ??= []).push(line.slice(eq + 1));
  }
  return sections;
}

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).status === 0;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', cwd: repoRoot, timeout: 120_000, ...opts });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

// ---- Prometheus ---------------------------------------------------------------------------

test('prometheus.yml: the two jobs and the rule file', () => {
  assert.match(PROM_CONFIG, /^\s*- job_name: rangekv-pd\s*$/m);
  assert.match(PROM_CONFIG, /^\s*- job_name: rangekv-store\s*$/m);
  assert.match(PROM_CONFIG, /^rule_files:\s*\n\s*- alerts\.yml\s*$/m);
  assert.match(PROM_CONFIG, /CHANGE ME/, 'the example targets say where to change them');
});

test('alerts.yml: every required alert, with severity, summary, a one-line runbook and known metrics', () => {
  const known = knownMetrics();
  const rules = parseRules(ALERTS);
  const names = rules.map((r) => r.name);
  assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), [], 'duplicate alert names');
  for (const name of REQUIRED_ALERTS) assert.ok(names.includes(name), `alerts.yml lacks ${name}`);
  for (const r of rules) {
    assert.ok(r.expr.length > 0, `${r.name}: expr`);
    assert.match(r.fields.severity ?? '', /^(critical|warning)$/, `${r.name}: severity label`);
    assert.match(r.fields.summary ?? '', /^".+"$/, `${r.name}: summary annotation on one line`);
    assert.match(r.fields.runbook ?? '', /^".+"$/, `${r.name}: runbook annotation on one line`);
    assert.match(r.fields.for ?? '', /^\d+[smh]$/, `${r.name}: for`);
    assert.deepEqual(unknownMetrics(r.expr, known), [], `${r.name}: metrics no process exports`);
    assert.ok(/\brangekv_[a-z0-9_]+/.test(r.expr) || /\bup\{job="rangekv-(pd|store)"\}/.test(r.expr), `${r.name}: uses no rangekv metric`);
  }
});

test('alerts.test.yml: every alert has a case where it fires and one where it does not', () => {
  const cases = parseTestCases(ALERT_TESTS);
  assert.match(ALERT_TESTS, /^rule_files:\s*\n\s*- alerts\.yml\s*$/m);
  for (const { name } of parseRules(ALERTS)) {
    const c = cases.get(name);
    assert.ok(c !== undefined, `alerts.test.yml never tests ${name}`);
    assert.ok(c.fires > 0, `${name}: no case where it fires`);
    assert.ok(c.quiet > 0, `${name}: no case where it does not fire`);
  }
  for (const name of cases.keys()) assert.ok(ALERTS.includes(`- alert: ${name}\n`), `alerts.test.yml tests an unknown alert ${name}`);
});

// ---- Grafana ------------------------------------------------------------------------------

/** Every panel, rows' nested ones included. */
function allPanels(d) {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

test('dashboard: valid JSON, schema 36+, a Prometheus datasource variable, known metrics in every query', () => {
  const d = JSON.parse(read('grafana', 'rangekv-dashboard.json'));
  const known = knownMetrics();
  assert.ok(Number.isInteger(d.schemaVersion) && d.schemaVersion >= 36, `schemaVersion ${d.schemaVersion}`);
  assert.equal(typeof d.title, 'string');
  assert.equal(typeof d.uid, 'string');
  const ds = d.templating.list.find((v) => v.type === 'datasource');
  assert.ok(ds !== undefined && ds.query === 'prometheus', 'a datasource variable of type prometheus');
  const panels = allPanels(d);
  const ids = panels.map((p) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  let queries = 0;
  for (const p of panels) {
    if (p.type === 'row') continue;
    assert.ok(typeof p.title === 'string' && p.title !== '', `panel ${p.id}: title`);
    assert.ok(p.gridPos && p.gridPos.w > 0 && p.gridPos.h > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: gridPos`);
    assert.ok(Array.isArray(p.targets) && p.targets.length > 0, `${p.title}: targets`);
    for (const t of p.targets) {
      queries++;
      assert.equal(t.datasource?.uid, '${' + ds.name + '}', `${p.title}: uses the datasource variable`);
      // Every query reads a rangekv metric, or Prometheus' up of a rangekv job.
      assert.ok(/\brangekv_[a-z0-9_]+/.test(t.expr) || /\bup\{job="rangekv-(pd|store)"\}/.test(t.expr), `${p.title}: ${t.expr}`);
      assert.deepEqual(unknownMetrics(t.expr, known), [], `${p.title}: metrics no process exports`);
    }
  }
  assert.ok(queries >= 20, `only ${queries} queries`);
  // The signals the alerts watch each have a panel.
  const exprs = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)).join('\n');
  for (const m of [
    'rangekv_leader_changes_total', 'rangekv_wal_fsync_duration_seconds_bucket', 'rangekv_commit_latency_seconds_bucket',
    'rangekv_write_stage_seconds_bucket', 'rangekv_follower_lag_max_entries', 'rangekv_raft_term_max', 'rangekv_pd_raft_term',
    'rangekv_ranges', 'rangekv_leader_ranges', 'rangekv_quiescent_ranges', 'rangekv_process_cpu_seconds_total',
    'rangekv_process_resident_memory_bytes', 'up{job="rangekv-store"}',
  ]) assert.ok(exprs.includes(m), `no panel shows ${m}`);
});

// ---- systemd ------------------------------------------------------------------------------

const UNITS = {
  'rangekv-pd.service': { command: 'pd', dir: 'rangekv/pd', httpPort: 2381, job: 'rangekv-pd', minStopSec: 10 },
  // A store drains its leaders for up to 5 s (leaderDrainMs), then stops its servers.
  'rangekv-store.service': { command: 'store', dir: 'rangekv/store', httpPort: 20162, job: 'rangekv-store', minStopSec: 30 },
};

/** The flags a unit's ExecStart passes (`--flag value` pairs). */
function execFlags(execStart) {
  return execStart.split(/\s+/).filter((w) => w.startsWith('--')).map((w) => w.slice(2));
}

for (const [file, want] of Object.entries(UNITS)) {
  test(`${file}: the keys a production unit needs`, () => {
    const u = parseUnit(read('systemd', file));
    const one = (sec, key) => {
      const v = u[sec]?.[key];
      assert.ok(v !== undefined && v.length > 0, `[${sec}] ${key} missing`);
      return v[v.length - 1];
    };
    assert.ok(one('Unit', 'Description').length > 0);
    assert.match(one('Unit', 'After'), /network-online\.target/);
    const exec = one('Service', 'ExecStart');
    assert.ok(exec.startsWith(`/usr/bin/node /opt/rangekv/tools/cli/dist/rangekv.js ${want.command} `), `ExecStart: ${exec}`);
    assert.ok(exec.includes(`--data-dir %S/${want.dir} `), 'the data dir is the StateDirectory');
    assert.ok(exec.includes(`--http-port ${want.httpPort}`), 'a fixed HTTP port to scrape');
    assert.equal(one('Service', 'StateDirectory'), want.dir);
    assert.equal(one('Service', 'ReadWritePaths'), `%S/${want.dir}`);
    assert.equal(one('Service', 'User'), 'rangekv');
    assert.equal(one('Service', 'Group'), 'rangekv');
    assert.equal(one('Service', 'NoNewPrivileges'), 'yes');
    assert.equal(one('Service', 'ProtectSystem'), 'strict');
    assert.equal(one('Service', 'ProtectHome'), 'yes');
    assert.equal(one('Service', 'PrivateTmp'), 'yes');
    assert.equal(one('Service', 'KillSignal'), 'SIGTERM');
    // SIGTERM to the CLI only: it passes it on once; a second one would kill the server undrained.
    assert.equal(one('Service', 'KillMode'), 'mixed');
    assert.ok(Number(one('Service', 'TimeoutStopSec')) >= want.minStopSec, 'TimeoutStopSec leaves time for a graceful stop');
    assert.equal(one('Service', 'Restart'), 'on-failure');
    assert.equal(one('Service', 'RestartPreventExitStatus'), '2');
    assert.equal(u.Service.MemoryDenyWriteExecute, undefined, 'V8 needs writable+executable memory');
    assert.equal(one('Install', 'WantedBy'), 'multi-user.target');
    // prometheus.yml scrapes the port the unit fixes.
    const job = PROM_CONFIG.slice(PROM_CONFIG.indexOf(`job_name: ${want.job}\n`)).split(/\n\s*- job_name:/)[0];
    assert.match(job, new RegExp(`:${want.httpPort}\\s*$`, 'm'), `prometheus.yml ${want.job} targets use port ${want.httpPort}`);
  });

  test(`${file}: every ExecStart flag is one the CLI knows`, (t) => {
    const cli = join(repoRoot, 'tools', 'cli', 'dist', 'rangekv.js');
    if (!existsSync(cli)) {
      t.skip('tools/cli/dist/rangekv.js not built: npm run build');
      return;
    }
    const exec = parseUnit(read('systemd', file)).Service.ExecStart[0];
    const r = run(process.execPath, [cli, want.command, '--help']);
    assert.equal(r.status, 0, r.out);
    for (const f of execFlags(exec)) assert.match(r.out, new RegExp(`--${f}\\b`), `rangekv ${want.command} has no --${f}`);
    // The env examples only set variables of known flags too.
    const env = read('systemd', `${want.command}.env.example`);
    for (const [, v] of env.matchAll(/^#?(RANGEKV_[A-Z_]+)=/gm)) {
      const flag = v.slice('RANGEKV_'.length).toLowerCase().replace(/_/g, '-');
      assert.match(r.out, new RegExp(`--${flag}\\b`), `${want.command}.env.example: ${v} is no flag of rangekv ${want.command}`);
    }
  });
}

test('systemd-analyze verify accepts both units', (t) => {
  if (!onPath('systemd-analyze')) {
    t.skip('systemd-analyze not installed');
    return;
  }
  if (!existsSync('/usr/bin/node')) {
    t.skip('/usr/bin/node (the units\' ExecStart) does not exist on this machine');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'rangekv-units-'));
  try {
    for (const f of Object.keys(UNITS)) copyFileSync(join(deployDir, 'systemd', f), join(dir, f));
    const r = run('systemd-analyze', ['verify', ...Object.keys(UNITS)], { cwd: dir, env: { ...process.env, TMPDIR: dir } });
    assert.equal(r.status, 0, r.out);
    // Unknown keys and bad values are only warnings (exit 0): none may name a line of ours.
    assert.doesNotMatch(r.out, /\.service:\d+:/, r.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- promtool -----------------------------------------------------------------------------

test('promtool: config, rules, rule unit tests and the dashboard queries', (t) => {
  if (!onPath('promtool')) {
    t.skip('promtool not installed: apt-get install prometheus');
    return;
  }
  for (const args of [
    ['check', 'config', join(PROM_DIR, 'prometheus.yml')],
    ['check', 'rules', join(PROM_DIR, 'alerts.yml')],
    ['test', 'rules', join(PROM_DIR, 'alerts.test.yml')],
  ]) {
    const r = run('promtool', args);
    assert.equal(r.status, 0, `promtool ${args.join(' ')}\n${r.out}`);
  }
  // The dashboard's queries as recording rules: promtool parses each one.
  const d = JSON.parse(read('grafana', 'rangekv-dashboard.json'));
  const lines = ['groups:', '  - name: dashboard', '    rules:'];
  let n = 0;
  for (const p of allPanels(d)) {
    for (const tg of p.targets ?? []) {
      const expr = tg.expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*');
      lines.push(`      - record: dashboard:query_${n++}`, `        expr: ${JSON.stringify(expr)}`);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'rangekv-dash-'));
  try {
    writeFileSync(join(dir, 'dashboard-rules.yml'), lines.join('\n') + '\n');
    const r = run('promtool', ['check', 'rules', join(dir, 'dashboard-rules.yml')]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${n} rules found`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- container image, Compose, Kubernetes -------------------------------------------------
//
// Containers cannot be built or run here (no container engine; `docker` is a client only),
// so these tests check the files against each other and against the code: every flag of
// every command parses (`rangekv pd|store ARGS --help` exits 0 only when each flag is known
// and each value valid), the ports agree with the CLI's defaults and the HTTP ports the
// units fix, and the image's start command serves /health and stops on its STOPSIGNAL when
// run from this checkout. YAML is read by yaml-lite.mjs (no dependency).

const CLI = join(repoRoot, 'tools', 'cli', 'dist', 'rangekv.js');
const DATA_ROOT = '/var/lib/rangekv';

/** The CLI's port defaults (server-commands.ts) and the HTTP ports the deploy files fix (the units'). */
function deployPorts() {
  const src = readFileSync(join(repoRoot, 'tools', 'cli', 'src', 'server-commands.ts'), 'utf8');
  const defaults = (name) => {
    const m = new RegExp(`withDefaults\\(${name}, \\{([^}]*)\\}\\)`).exec(src);
    assert.ok(m, `server-commands.ts: withDefaults(${name}, ...) not found`);
    return Object.fromEntries([...m[1].matchAll(/(\w+): (\d+)/g)].map(([, k, v]) => [k, Number(v)]));
  };
  const pd = defaults('PD_FLAGS');
  const store = defaults('STORE_FLAGS');
  return {
    pd: { port: pd.port, 'raft-port': pd.raftPort, 'http-port': UNITS['rangekv-pd.service'].httpPort },
    store: { port: store.port, 'raft-port': store.raftPort, 'http-port': UNITS['rangekv-store.service'].httpPort },
  };
}
const PORTS = deployPorts();

/** The units' TimeoutStopSec, by command: the stop time every other artifact must allow too. */
function unitStopSeconds(command) {
  const u = parseUnit(read('systemd', `rangekv-${command}.service`));
  return Number(u.Service.TimeoutStopSec.at(-1));
}

/** `--flag=value` and `--flag value` pairs of an argv (bare `--flag`: true). */
function argvFlags(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    if (eq > 0) out[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[a.slice(2)] = argv[++i];
    else out[a.slice(2)] = true;
  }
  return out;
}

/** Whether `rangekv ARGV --help` parses (every flag known, every value valid); skips the test without a build (call it last). */
function assertCliAccepts(t, argv, what) {
  if (!existsSync(CLI)) {
    t.skip('tools/cli/dist/rangekv.js not built: npm run build');
    return false;
  }
  const r = run(process.execPath, [CLI, ...argv, '--help'], { env: cleanEnv() });
  assert.equal(r.status, 0, `${what}: rangekv ${argv.join(' ')} does not parse:\n${r.out}`);
  return true;
}

/** process.env without RANGEKV_* (the caller's settings must not leak into a check). */
function cleanEnv(extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RANGEKV_')));
  return { ...env, ...extra };
}

// ---- Dockerfile ---------------------------------------------------------------------------

/** The Dockerfile's instructions by stage: [{ from, instrs: [{ op, args }] }] (continuations joined). */
function parseDockerfile(text) {
  const lines = [];
  let cur = '';
  for (const raw of text.split('\n')) {
    if (cur === '' && /^\s*(#|$)/.test(raw)) continue;
    if (raw.endsWith('\\')) {
      cur += raw.slice(0, -1) + ' ';
      continue;
    }
    lines.push((cur + raw).trim());
    cur = '';
  }
  const stages = [];
  for (const line of lines) {
    const m = /^([A-Z]+)\s+(.*)$/.exec(line);
    assert.ok(m, `Dockerfile line: ${line}`);
    const ins = { op: m[1], args: m[2] };
    if (ins.op === 'FROM') stages.push({ from: ins.args, instrs: [] });
    else if (stages.length > 0) stages.at(-1).instrs.push(ins);
  }
  return stages;
}

const DOCKERFILE = read('docker', 'Dockerfile');
const STAGES = parseDockerfile(DOCKERFILE);
const FINAL = STAGES.at(-1);
const finalOps = (op) => FINAL.instrs.filter((i) => i.op === op);
const finalOne = (op) => {
  const all = finalOps(op);
  assert.equal(all.length, 1, `one ${op} in the final stage`);
  return all[0].args;
};
/** ENV KEY=value pairs of the final stage. */
const IMAGE_ENV = Object.fromEntries(finalOps('ENV').flatMap((i) => [...i.args.matchAll(/(\w+)=(\S+)/g)].map(([, k, v]) => [k, v])));
const ENTRYPOINT = JSON.parse(finalOne('ENTRYPOINT'));
/** Where the image keeps the CLI: ENTRYPOINT's script, /opt/rangekv/dist/rangekv.js (pnpm deploy of tools/cli). */
const IMAGE_APP = '/opt/rangekv';
const IMAGE_UID = Number(/^(\d+)(?::\d+)?$/.exec(finalOne('USER'))?.[1]);

/** An image path of the CLI or the health check -> this checkout's file. */
function localPath(imagePath) {
  if (imagePath === `${IMAGE_APP}/dist/rangekv.js`) return CLI;
  if (imagePath === `${IMAGE_APP}/healthcheck.mjs`) return join(deployDir, 'docker', 'healthcheck.mjs');
  if (imagePath === 'node') return process.execPath;
  return imagePath;
}

test('Dockerfile: two node:20-bookworm-slim stages, the pinned pnpm, production deps, non-root, volume, ports, stop signal, health check', () => {
  assert.equal(STAGES.length, 2, 'a build stage and a runtime stage');
  assert.equal(STAGES[0].from, 'node:20-bookworm-slim AS build');
  assert.equal(FINAL.from, 'node:20-bookworm-slim');
  const build = STAGES[0].instrs.map((i) => `${i.op} ${i.args}`).join('\n');
  // The pnpm the repo bootstraps (ensure-built.mjs), the lockfile as it is, offline after fetch.
  const pinned = /const PNPM_VERSION = '([^']+)'/.exec(readFileSync(join(repoRoot, 'tools', 'scripts', 'ensure-built.mjs'), 'utf8'))?.[1];
  assert.ok(pinned, 'PNPM_VERSION in ensure-built.mjs');
  assert.match(build, new RegExp(`^ARG PNPM_VERSION=${pinned.replaceAll('.', '\\.')}$`, 'm'), `the build stage installs pnpm ${pinned}`);
  assert.match(build, /npm install --global [^\n]*pnpm@\$\{PNPM_VERSION\}/);
  assert.match(build, /pnpm install --frozen-lockfile --offline/);
  assert.match(build, /node tools\/scripts\/gen-proto\.mjs/, 'the protobuf bindings are generated before tsc');
  assert.match(build, /tsc -b tools\/cli/);
  assert.match(build, /apt-get install --yes --no-install-recommends gcc libc6-dev/, 'a C compiler for the malloc-trim addon');
  assert.match(build, /tsc -b tools\/cli \\?\s*&& node tools\/scripts\/build-native\.mjs/, 'the addon is built after tsc, into runtime dist/native');
  assert.match(build, /pnpm --filter @rangekv\/cli deploy --prod --offline \/out/, 'pruned to production dependencies');
  assert.match(build, /cp deploy\/docker\/healthcheck\.mjs \/out\/healthcheck\.mjs/);
  assert.ok(existsSync(join(deployDir, 'docker', 'healthcheck.mjs')));
  // The runtime stage gets /out as /opt/rangekv, the entrypoint is the CLI there.
  assert.ok(finalOps('COPY').some((c) => c.args === `--from=build /out ${IMAGE_APP}`), `COPY --from=build /out ${IMAGE_APP}`);
  assert.deepEqual(ENTRYPOINT, ['node', `${IMAGE_APP}/dist/rangekv.js`]);
  assert.equal(existsSync(join(repoRoot, 'tools', 'cli', 'src', 'rangekv.ts')), true, 'the entrypoint is tools/cli (rangekv.ts -> dist/rangekv.js)');
  // Non-root: a numeric uid (so runAsNonRoot can check it), the user created with it.
  assert.ok(IMAGE_UID > 0, `USER ${finalOne('USER')}: a numeric non-root uid`);
  assert.match(DOCKERFILE, new RegExp(`useradd [^\\n]*--uid ${IMAGE_UID} `));
  assert.match(finalOne('VOLUME'), new RegExp(`"${DATA_ROOT}"`));
  assert.match(DOCKERFILE, new RegExp(`chown rangekv:rangekv ${DATA_ROOT}`), 'the data root belongs to the user');
  // Every port the deploy files use, and only those.
  const exposed = finalOne('EXPOSE').split(/\s+/).map(Number).sort((a, b) => a - b);
  const want = [...Object.values(PORTS.pd), ...Object.values(PORTS.store)].sort((a, b) => a - b);
  assert.deepEqual(exposed, want, 'EXPOSE = the CLI default ports + the deploy HTTP ports');
  // The units' stop signal.
  const killSignal = parseUnit(read('systemd', 'rangekv-store.service')).Service.KillSignal[0];
  assert.equal(parseUnit(read('systemd', 'rangekv-pd.service')).Service.KillSignal[0], killSignal);
  assert.equal(finalOne('STOPSIGNAL'), killSignal);
  // HEALTHCHECK with node (no curl in slim) running the health check script.
  const hc = /^(.*)CMD (\[.*\])$/.exec(finalOne('HEALTHCHECK'));
  assert.ok(hc, 'HEALTHCHECK ... CMD [exec form]');
  assert.deepEqual(JSON.parse(hc[2]), ['node', `${IMAGE_APP}/healthcheck.mjs`]);
  assert.match(hc[1], /--interval=\d+s/);
  assert.match(hc[1], /--start-period=\d+s/);
  // Image-wide settings are flags of both commands.
  assert.equal(IMAGE_ENV.RANGEKV_HOST, '0.0.0.0', 'listen on every interface inside the container');
  for (const k of Object.keys(IMAGE_ENV).filter((k) => k.startsWith('RANGEKV_'))) {
    const flag = `--${k.slice('RANGEKV_'.length).toLowerCase().replace(/_/g, '-')}`;
    for (const cmd of ['pd', 'store']) {
      const helpSrc = readFileSync(join(repoRoot, 'packages', cmd, 'src', `${cmd}-flags.ts`), 'utf8');
      assert.ok(helpSrc.includes(`${flag.slice(2).replace(/-(\w)/g, (_, c) => c.toUpperCase())}:`), `ENV ${k}: no ${flag} in ${cmd}-flags.ts`);
    }
  }
});

test('.dockerignore: local installs and outputs stay out, the sources the build needs stay in', () => {
  const patterns = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const p of ['**/node_modules', '**/dist', '**/*.tsbuildinfo', '.git']) assert.ok(patterns.includes(p), `.dockerignore lacks ${p}`);
  // What the build stage reads: nothing of it ignored (patterns here are paths or path prefixes).
  const ignored = (path) => {
    let out = false;
    for (const p of patterns) {
      const neg = p.startsWith('!');
      const pat = neg ? p.slice(1) : p;
      if (pat.includes('*')) continue;
      if (path === pat || path.startsWith(`${pat}/`)) out = !neg;
    }
    return out;
  };
  for (const need of ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', 'tsconfig.json', 'tsconfig.base.json', 'proto', 'packages/store/src', 'tools/cli/src', 'tools/scripts/gen-proto.mjs', 'bench/package.json', 'deploy/docker/healthcheck.mjs']) {
    assert.equal(ignored(need), false, `.dockerignore leaves out ${need}, which the build needs`);
  }
});

// ---- Docker Compose -----------------------------------------------------------------------

const COMPOSE_DIR = join(deployDir, 'compose');
const COMPOSE = parseYaml(read('compose', 'docker-compose.yml'));
const composeServices = (cmd) => Object.entries(COMPOSE.services).filter(([, s]) => Array.isArray(s.command) && s.command[0] === cmd);

test('docker-compose.yml: 3 PD + 3 stores on the image, advertised by service name, named volumes, ports and stop time', (t) => {
  const pds = composeServices('pd');
  const stores = composeServices('store');
  assert.deepEqual(pds.map(([n]) => n), ['pd-1', 'pd-2', 'pd-3']);
  assert.deepEqual(stores.map(([n]) => n), ['store-1', 'store-2', 'store-3']);
  const pdPeers = new Set();
  const ids = [];
  for (const [name, s] of [...pds, ...stores]) {
    const cmd = s.command[0];
    // The image, built from deploy/docker/Dockerfile.
    assert.equal(s.image, 'rangekv:dev', `${name}: image`);
    assert.ok(existsSync(join(COMPOSE_DIR, s.build.context, s.build.dockerfile)), `${name}: build ${s.build.context} ${s.build.dockerfile}`);
    assert.equal(join(COMPOSE_DIR, s.build.context), repoRoot, `${name}: the build context is the repo root (.dockerignore)`);
    const grace = /^(\d+)s$/.exec(s.stop_grace_period ?? '');
    assert.ok(grace && Number(grace[1]) >= unitStopSeconds(cmd), `${name}: stop_grace_period >= the unit's TimeoutStopSec`);
    // Data on a named volume at the image's VOLUME, data dir below it.
    const vol = (s.volumes ?? []).map((v) => v.split(':')).find(([, target]) => target === DATA_ROOT);
    assert.ok(vol && Object.hasOwn(COMPOSE.volumes, vol[0]), `${name}: a named volume (declared under volumes:) at ${DATA_ROOT}`);
    const f = argvFlags(s.command);
    assert.equal(f['data-dir'], `${DATA_ROOT}/${cmd}`, `${name}: --data-dir`);
    // Listens everywhere, advertises the name the other containers resolve.
    assert.equal(f.host, '0.0.0.0', `${name}: --host`);
    assert.equal(f['advertise-host'], name, `${name}: --advertise-host is the service name`);
    for (const [k, v] of Object.entries(PORTS[cmd])) assert.equal(Number(f[k]), v, `${name}: --${k}`);
    if (cmd === 'pd') {
      ids.push(Number(f.id));
      pdPeers.add(f.peers);
      assert.equal(Number(f['initial-stores']), stores.length, `${name}: --initial-stores = the stores here`);
    } else {
      assert.equal(f.pd, pds.map(([n]) => `${n}:${PORTS.pd.port}`).join(','), `${name}: --pd lists every PD`);
      assert.deepEqual(s.depends_on, pds.map(([n]) => n), `${name}: starts after the PD nodes`);
    }
    assert.ok(!('ports' in s), `${name}: no published rangekv port (the advertised names only resolve inside the network)`);
  }
  assert.deepEqual(ids, [1, 2, 3], 'PD ids');
  assert.equal(pdPeers.size, 1, 'every PD node has the same --peers');
  assert.equal([...pdPeers][0], pds.map(([n], i) => `${ids[i]}=${n}:${PORTS.pd['raft-port']}/${n}:${PORTS.pd.port}`).join(','));
  // The image's stop signal and health check apply unchanged.
  for (const [name, s] of [...pds, ...stores]) {
    assert.ok(!('healthcheck' in s) && !('stop_signal' in s) && !('entrypoint' in s), `${name}: the image's entrypoint, health check and stop signal`);
  }
  // Last (it skips without a built CLI): every command parses.
  for (const [name, s] of [...pds, ...stores]) if (!assertCliAccepts(t, s.command, `compose ${name}`)) return;
});

test('docker-compose.yml: Prometheus scrapes every PD and store with the alert rules, Grafana loads the dashboard', () => {
  const prom = COMPOSE.services.prometheus;
  const mounts = Object.fromEntries(prom.volumes.map((v) => v.split(':')).map(([src, dst]) => [dst, src]));
  assert.equal(mounts['/etc/prometheus/prometheus.yml'], './prometheus.yml');
  assert.equal(mounts['/etc/prometheus/alerts.yml'], '../prometheus/alerts.yml', 'the rules of deploy/prometheus, unchanged');
  // ./tls/ is make-certs.sh's output (not in the repo; the compose TLS tests check it).
  for (const src of Object.values(mounts)) if (src.startsWith('.') && !src.startsWith('./tls/')) assert.ok(existsSync(join(COMPOSE_DIR, src)), `prometheus mounts ${src}`);
  assert.ok(prom.command.includes('--config.file=/etc/prometheus/prometheus.yml'));
  // The compose scrape config: the main config's job names (the rules select on them), targets = the services' HTTP ports.
  const cfg = parseYaml(read('compose', 'prometheus.yml'));
  const main = parseYaml(PROM_CONFIG);
  assert.deepEqual(cfg.rule_files, ['alerts.yml']);
  assert.deepEqual(cfg.scrape_configs.map((j) => j.job_name), main.scrape_configs.map((j) => j.job_name));
  const targets = (job) => cfg.scrape_configs.find((j) => j.job_name === job).static_configs.flatMap((s) => s.targets);
  assert.deepEqual(targets('rangekv-pd'), composeServices('pd').map(([n]) => `${n}:${PORTS.pd['http-port']}`));
  assert.deepEqual(targets('rangekv-store'), composeServices('store').map(([n]) => `${n}:${PORTS.store['http-port']}`));
  // Grafana: the provisioning files exist and point at Prometheus and the dashboard mount.
  const g = COMPOSE.services.grafana;
  const gm = Object.fromEntries(g.volumes.map((v) => v.split(':')).map(([src, dst]) => [dst, src]));
  const dashTarget = Object.keys(gm).find((d) => gm[d] === '../grafana/rangekv-dashboard.json');
  assert.ok(dashTarget, 'grafana mounts deploy/grafana/rangekv-dashboard.json');
  for (const src of Object.values(gm)) if (src.startsWith('.')) assert.ok(existsSync(join(COMPOSE_DIR, src)), `grafana mounts ${src}`);
  const dsFile = gm['/etc/grafana/provisioning/datasources/rangekv.yml'];
  const dbFile = gm['/etc/grafana/provisioning/dashboards/rangekv.yml'];
  assert.ok(dsFile && dbFile, 'datasource and dashboard provisioning files are mounted');
  const ds = parseYaml(readFileSync(join(COMPOSE_DIR, dsFile), 'utf8'));
  assert.equal(ds.datasources.length, 1);
  assert.equal(ds.datasources[0].type, 'prometheus', 'the dashboard\'s datasource variable is of type prometheus');
  assert.equal(ds.datasources[0].isDefault, true, 'the dashboard\'s datasource variable has no current value: Grafana picks the default');
  assert.equal(ds.datasources[0].url, 'http://prometheus:9090');
  assert.ok(prom.ports.some((p) => p.endsWith(':9090')), 'Prometheus listens on 9090');
  const db = parseYaml(readFileSync(join(COMPOSE_DIR, dbFile), 'utf8'));
  assert.equal(db.providers[0].type, 'file');
  assert.equal(db.providers[0].options.path, dirname(dashTarget), 'the provider loads the directory the dashboard is mounted in');
  assert.equal(g.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, dashTarget);
  // Named volumes: every one used is declared, every declared one used.
  const used = new Set(Object.values(COMPOSE.services).flatMap((s) => (s.volumes ?? []).map((v) => v.split(':')[0]).filter((v) => !v.startsWith('.'))));
  assert.deepEqual([...used].sort(), Object.keys(COMPOSE.volumes).sort());
  // Only Prometheus and Grafana are published, on loopback.
  for (const [name, s] of Object.entries(COMPOSE.services)) for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name}: publishes ${p} on loopback only`);
});

// ---- Compose: TLS ---------------------------------------------------------------------------

const MAKE_COMPOSE_CERTS = join(COMPOSE_DIR, 'make-certs.sh');
const OPENSSL_SKIP = hasOpenssl() ? false : 'openssl not installed';
const TLS_FILE_FLAGS = ['tls-ca-file', 'tls-cert-file', 'tls-key-file', 'admin-token-file'];
// The variables the CLI reads for `rangekv kv|ctl` run in a container, by the server flag they must agree with.
const CLI_TLS_ENV = { RANGEKV_TLS_CA_FILE: 'tls-ca-file', RANGEKV_TLS_CERT_FILE: 'tls-cert-file', RANGEKV_TLS_KEY_FILE: 'tls-key-file', RANGEKV_ADMIN_TOKEN_FILE: 'admin-token-file' };
const hostOf = (addr) => addr.replace(/:\d+$/, '');

/** A service's bind mount [source, target, mode] holding the container path `file`. */
function composeMountOf(s, file) {
  return (s.volumes ?? []).map((v) => v.split(':')).find(([src, target]) => src.startsWith('.') && file.startsWith(`${target}/`));
}

/** Where container path `file` of service `s` is on this machine when make-certs.sh wrote to `outDir` (its ./tls). */
function composeHostPath(s, file, outDir) {
  const [src, target] = composeMountOf(s, file);
  assert.ok(src === './tls' || src.startsWith('./tls/'), `${file}: mounted from ./tls (make-certs.sh's output), not ${src}`);
  return join(outDir, src.slice('./tls'.length), file.slice(target.length + 1));
}

test('docker-compose.yml: every PD and store runs mutual TLS from its own mounted directory, HTTPS on the HTTP port, the same files for the CLI', () => {
  for (const [name, s] of [...composeServices('pd'), ...composeServices('store')]) {
    const f = argvFlags(s.command);
    for (const k of TLS_FILE_FLAGS) {
      assert.equal(typeof f[k], 'string', `${name}: --${k}`);
      const m = composeMountOf(s, f[k]);
      assert.ok(m, `${name}: --${k} ${f[k]} is on a bind mount`);
      assert.equal(m[0], `./tls/${name}`, `${name}: --${k} is in its own directory of make-certs.sh's output`);
      assert.equal(m[2], 'ro', `${name}: certificates mounted read-only`);
    }
    assert.equal(f['tls-client-auth'], 'require', `${name}: clients of the KV/PD port present certificates`);
    assert.equal(f['http-tls'], true, `${name}: /metrics and /health over HTTPS`);
    for (const [v, k] of Object.entries(CLI_TLS_ENV)) assert.equal(s.environment?.[v], f[k], `${name}: ${v} (for rangekv kv|ctl in the container) = --${k}`);
  }
  // Prometheus scrapes HTTPS with the CA make-certs.sh writes, verifying the service names.
  const prom = COMPOSE.services.prometheus;
  const cfg = parseYaml(read('compose', 'prometheus.yml'));
  const promMounts = Object.fromEntries(prom.volumes.map((v) => v.split(':')).map(([src, dst]) => [dst, src]));
  for (const job of cfg.scrape_configs) {
    assert.equal(job.scheme, 'https', `${job.job_name}: scheme`);
    const ca = job.tls_config?.ca_file;
    assert.ok(ca, `${job.job_name}: tls_config.ca_file`);
    // Relative paths are read from the config file's directory.
    const inContainer = ca.startsWith('/') ? ca : join(dirname('/etc/prometheus/prometheus.yml'), ca);
    assert.equal(promMounts[inContainer], './tls/ca.pem', `${job.job_name}: ${inContainer} is make-certs.sh's ca.pem`);
    assert.equal(job.tls_config.insecure_skip_verify, undefined, 'the server certificates are verified');
  }
});

test('compose/make-certs.sh: per service a certificate from the CA naming its id and the names it is dialed at, its key, the token; a re-run keeps CA and token', { skip: OPENSSL_SKIP }, () => {
  const out = mkdtempSync(join(tmpdir(), 'rangekv-compose-tls-'));
  try {
    const r = run('sh', [MAKE_COMPOSE_CERTS], { env: { ...process.env, OUT_DIR: out } });
    assert.equal(r.status, 0, r.out);
    const pds = composeServices('pd');
    const stores = composeServices('store');
    // What each process is dialed at: its advertised name (PD gives it out), the names in --peers
    // (PD to PD) and in the stores' --pd, Prometheus' targets, and 127.0.0.1 for `exec ... rangekv`.
    const dialed = new Map([...pds, ...stores].map(([name, s]) => [name, new Set([argvFlags(s.command)['advertise-host']])]));
    for (const [name, s] of pds) {
      const f = argvFlags(s.command);
      const own = f.peers.split(',').find((e) => e.startsWith(`${f.id}=`)).slice(`${f.id}=`.length);
      for (const addr of own.split('/')) dialed.get(name).add(hostOf(addr));
      dialed.get(name).add('127.0.0.1');
    }
    for (const [, s] of stores) {
      for (const addr of argvFlags(s.command).pd.split(',')) {
        const pd = pds.find(([, p]) => argvFlags(p.command)['advertise-host'] === hostOf(addr));
        assert.ok(pd, `--pd ${addr} is a PD service's advertised name`);
      }
    }
    const cfg = parseYaml(read('compose', 'prometheus.yml'));
    for (const target of cfg.scrape_configs.flatMap((j) => j.static_configs.flatMap((sc) => sc.targets))) dialed.get(hostOf(target)).add(hostOf(target));

    const tokens = new Set();
    const storeIds = [];
    for (const [name, s] of [...pds, ...stores]) {
      const f = argvFlags(s.command);
      const [ca, cert, key, token] = TLS_FILE_FLAGS.map((k) => composeHostPath(s, f[k], out));
      const v = verifiesAgainst(ca, cert);
      assert.ok(v.ok, `${name}: ${v.out}`);
      assert.ok(keyMatches(cert, key), `${name}: --tls-key-file is the key of --tls-cert-file`);
      const names = certNames(cert);
      if (s.command[0] === 'pd') {
        assert.deepEqual(names.uri, [`rangekv://pd/${f.id}`], `${name}: the certificate names its --id`);
      } else {
        assert.equal(names.uri.length, 1, `${name}: one rangekv name`);
        const m = /^rangekv:\/\/store\/(\d+)$/.exec(names.uri[0]);
        assert.ok(m, `${name}: a store certificate, not ${names.uri[0]}`);
        storeIds.push(Number(m[1]));
      }
      for (const host of dialed.get(name)) {
        assert.ok([...names.dns, ...names.ip].includes(host), `${name}: the certificate covers ${host} (has ${[...names.dns, ...names.ip].join(', ')})`);
      }
      tokens.add(readFileSync(token, 'utf8').trim());
    }
    assert.deepEqual(storeIds, stores.map(([n]) => Number(n.split('-')[1])), 'store-N is store N (its id comes from the certificate)');
    assert.equal(tokens.size, 1, 'one admin token: PD sends its own with the operators it runs on the stores');
    assert.match([...tokens][0], /^\S{16,}$/);
    assert.equal(readFileSync(join(out, 'ca.pem'), 'utf8'), readFileSync(join(out, 'pki', 'ca.pem'), 'utf8'), 'Prometheus gets the CA');

    // Again: the certificates are re-issued under the same CA, the token stays.
    const caBefore = readFileSync(join(out, 'ca.pem'), 'utf8');
    const certBefore = readFileSync(join(out, 'store-1', 'node.pem'), 'utf8');
    const again = run('sh', [MAKE_COMPOSE_CERTS], { env: { ...process.env, OUT_DIR: out } });
    assert.equal(again.status, 0, again.out);
    assert.equal(readFileSync(join(out, 'ca.pem'), 'utf8'), caBefore);
    assert.notEqual(readFileSync(join(out, 'store-1', 'node.pem'), 'utf8'), certBefore);
    assert.ok(verifiesAgainst(join(out, 'store-1', 'ca.pem'), join(out, 'store-1', 'node.pem')).ok);
    assert.equal(readFileSync(join(out, 'store-1', 'admin-token'), 'utf8').trim(), [...tokens][0]);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('promtool: the compose scrape config with the alert rules', (t) => {
  if (!onPath('promtool')) {
    t.skip('promtool not installed: apt-get install prometheus');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'rangekv-compose-prom-'));
  try {
    // As mounted: prometheus.yml and alerts.yml side by side.
    copyFileSync(join(COMPOSE_DIR, 'prometheus.yml'), join(dir, 'prometheus.yml'));
    copyFileSync(join(PROM_DIR, 'alerts.yml'), join(dir, 'alerts.yml'));
    const r = run('promtool', ['check', 'config', join(dir, 'prometheus.yml')]);
    assert.equal(r.status, 0, r.out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- Kubernetes ---------------------------------------------------------------------------

const K8S_DIR = join(deployDir, 'k8s');
const KUSTOMIZATION = parseYaml(read('k8s', 'kustomization.yaml'));
const K8S_OBJECTS = KUSTOMIZATION.resources.flatMap((f) => parseYamlDocuments(read('k8s', f)).map((o) => ({ ...o, file: f })));
const k8s = (kind, name) => {
  const o = K8S_OBJECTS.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `no ${kind} ${name} in deploy/k8s`);
  return o;
};
const SAMPLE_NS = 'rk-test';
const containsLabels = (labels, sel) => Object.entries(sel).every(([k, v]) => labels?.[k] === v);

test('k8s: the kustomization lists every manifest, each parses, kinds and names are unique', () => {
  const files = readdirSync(K8S_DIR).filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml').sort();
  assert.deepEqual([...KUSTOMIZATION.resources].sort(), files, 'kustomization.yaml resources = the manifest files here');
  assert.equal(KUSTOMIZATION.namespace, undefined, 'namespace-agnostic (the pods read their namespace)');
  const keys = K8S_OBJECTS.map((o) => `${o.kind}/${o.metadata.name}`);
  assert.deepEqual(keys.filter((k, i) => keys.indexOf(k) !== i), [], 'duplicate objects');
  for (const want of ['StatefulSet/rangekv-pd', 'StatefulSet/rangekv-store', 'Service/rangekv-pd', 'Service/rangekv-store', 'Service/rangekv-client', 'PodDisruptionBudget/rangekv-pd', 'PodDisruptionBudget/rangekv-store']) {
    assert.ok(keys.includes(want), `deploy/k8s lacks ${want}`);
  }
  for (const o of K8S_OBJECTS) assert.equal(o.metadata.namespace, undefined, `${o.kind}/${o.metadata.name}: no namespace`);
});

/** The pod's argv as the container runs it: image ENTRYPOINT + args, or command + args; $(VAR) filled in. */
function containerArgv(c, env) {
  const fill = (s) => s.replace(/\$\((\w+)\)/g, (m, v) => env[v] ?? m);
  return [...(c.command ?? ENTRYPOINT), ...(c.args ?? [])].map(fill);
}

/** Runs a `/bin/sh -c SCRIPT` container command with a stub `node` on PATH; returns the argv node got. */
function runShellCommand(c, env) {
  assert.deepEqual(c.command, ['/bin/sh', '-c'], 'a shell wrapper');
  const dir = mkdtempSync(join(tmpdir(), 'rangekv-k8s-sh-'));
  try {
    writeFileSync(join(dir, 'node'), `#!/bin/sh\nfor a in "$@"; do printf '%s\\0' "$a"; done\n`, { mode: 0o755 });
    const r = spawnSync('/bin/sh', ['-c', c.args[0]], { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin`, ...env } });
    assert.equal(r.status, 0, r.stderr);
    return ['node', ...r.stdout.split('\0').slice(0, -1)];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The pod's `rangekv` arguments (after the entrypoint), as its container runs them. */
function podArgv(cmd, c, podEnv) {
  const argv = cmd === 'pd' ? runShellCommand(c, podEnv) : containerArgv(c, podEnv);
  assert.deepEqual(argv.slice(0, 2), ENTRYPOINT, 'runs the image\'s entrypoint');
  return argv.slice(2);
}

/** The Secret volume mounted (directly) at the directory of container path `file`. */
function secretVolumeOf(podSpec, c, file) {
  const m = c.volumeMounts.find((vm) => vm.mountPath === dirname(file));
  const v = m && podSpec.volumes.find((vol) => vol.name === m.name);
  return v?.secret ? v : undefined;
}

for (const cmd of ['pd', 'store']) {
  test(`k8s: ${cmd} StatefulSet: headless Service, stable identity and address, TLS from its Secret, HTTPS probes, PDB, anti-affinity, non-root, resources, stop time`, (t) => {
    const sts = k8s('StatefulSet', `rangekv-${cmd}`);
    const pod = sts.spec.template;
    const podLabels = pod.metadata.labels;
    assert.ok(containsLabels(podLabels, sts.spec.selector.matchLabels), 'the selector matches the pod labels');
    assert.equal(sts.spec.podManagementPolicy, 'Parallel');
    assert.equal(sts.spec.replicas, 3);
    // Headless Service: stable names, resolvable before the pods are ready.
    const svc = k8s('Service', sts.spec.serviceName);
    assert.equal(svc.spec.clusterIP, 'None', `${svc.metadata.name} is headless`);
    assert.equal(svc.spec.publishNotReadyAddresses, true);
    assert.ok(containsLabels(podLabels, svc.spec.selector), `${svc.metadata.name} selects the ${cmd} pods`);
    // PDB: at most one pod down.
    const pdbs = K8S_OBJECTS.filter((o) => o.kind === 'PodDisruptionBudget' && containsLabels(podLabels, o.spec.selector.matchLabels));
    assert.equal(pdbs.length, 1, `one PodDisruptionBudget selects the ${cmd} pods`);
    assert.equal(pdbs[0].spec.maxUnavailable, 1);
    assert.equal(pdbs[0].apiVersion, 'policy/v1');
    // Anti-affinity by host, on its own pods.
    const anti = pod.spec.affinity.podAntiAffinity;
    const terms = [...(anti.requiredDuringSchedulingIgnoredDuringExecution ?? []), ...(anti.preferredDuringSchedulingIgnoredDuringExecution ?? []).map((p) => p.podAffinityTerm)];
    assert.ok(terms.some((tm) => tm.topologyKey === 'kubernetes.io/hostname' && containsLabels(podLabels, tm.labelSelector.matchLabels)), 'pod anti-affinity by kubernetes.io/hostname');
    // Non-root, as the image's user; the volume writable through fsGroup.
    const psc = pod.spec.securityContext;
    assert.equal(psc.runAsNonRoot, true);
    assert.equal(psc.runAsUser, IMAGE_UID, 'runAsUser = the Dockerfile\'s USER');
    assert.equal(psc.fsGroup, IMAGE_UID);
    assert.equal(pod.spec.enableServiceLinks, false, 'no service-link variables (a Service rangekv-<flag> would set RANGEKV_<FLAG>_...)');
    assert.ok(pod.spec.terminationGracePeriodSeconds >= unitStopSeconds(cmd), 'terminationGracePeriodSeconds >= the unit\'s TimeoutStopSec');
    assert.equal(pod.spec.containers.length, 1);
    const c = pod.spec.containers[0];
    assert.equal(c.securityContext.allowPrivilegeEscalation, false);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL']);
    assert.ok(c.volumeMounts.some((m) => m.mountPath === '/tmp'), 'a writable /tmp with the read-only root');
    assert.equal(c.image.split(':')[0], 'rangekv');
    // Resources.
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory, 'cpu and memory requests');
    assert.ok(c.resources.limits.memory, 'a memory limit');
    // Data on the claim template at the image's VOLUME.
    const claim = sts.spec.volumeClaimTemplates[0].metadata.name;
    assert.ok(c.volumeMounts.some((m) => m.name === claim && m.mountPath === DATA_ROOT), `the ${claim} claim at ${DATA_ROOT}`);
    // Container ports = the deploy ports; the Service's ports reach them.
    const cports = Object.fromEntries(c.ports.map((p) => [p.name, p.containerPort]));
    assert.deepEqual(Object.values(cports).sort(), Object.values(PORTS[cmd]).sort(), 'container ports = the CLI defaults + the HTTP port');
    assert.equal(cports.http, PORTS[cmd]['http-port']);
    for (const p of svc.spec.ports) assert.equal(cports[p.targetPort], p.port, `${svc.metadata.name} port ${p.name}`);
    // Probes: /health on the HTTP port, HTTPS (checked against --http-tls below).
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
      assert.equal(c[probe]?.httpGet?.path, '/health', `${probe} on /health`);
      assert.equal(cports[c[probe].httpGet.port], PORTS[cmd]['http-port'], `${probe} on the HTTP port`);
      assert.equal(c[probe].httpGet.scheme, 'HTTPS', `${probe}: the server runs --http-tls`);
    }
    // The command: stable identity and address from the pod name, every flag valid.
    const env = Object.fromEntries(c.env.map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
    assert.equal(env.POD_NAME, 'metadata.name');
    assert.equal(env.POD_NAMESPACE, 'metadata.namespace');
    const ordinal = 2;
    const podName = `${sts.metadata.name}-${ordinal}`;
    const podEnv = { ...env, POD_NAME: podName, POD_NAMESPACE: SAMPLE_NS };
    const cli = podArgv(cmd, c, podEnv);
    assert.equal(cli[0], cmd);
    const f = argvFlags(cli);
    // TLS: the three files and the token from mounted Secrets, the certificate the pod's own.
    for (const k of TLS_FILE_FLAGS) {
      const v = secretVolumeOf(pod.spec, c, f[k]);
      assert.ok(v, `--${k} ${f[k]} is in a mounted Secret`);
      assert.equal(v.secret.secretName, k === 'admin-token-file' ? 'rangekv-admin-token' : `${sts.metadata.name}-tls`, `--${k}: the Secret`);
    }
    assert.equal(basename(f['tls-cert-file']), `${podName}.pem`, 'the pod\'s own certificate, by pod name');
    assert.equal(basename(f['tls-key-file']), `${podName}.key`);
    assert.equal(f['tls-client-auth'], 'require');
    assert.equal(f['http-tls'], true);
    const fill = (v) => v.replace(/\$\((\w+)\)/g, (m, n) => podEnv[n] ?? m);
    for (const [v, k] of Object.entries(CLI_TLS_ENV)) assert.equal(fill(env[v] ?? ''), f[k], `${v} (for rangekv kv|ctl in the pod) = --${k}`);
    const domain = `${sts.spec.serviceName}.${SAMPLE_NS}.svc`;
    assert.equal(f['advertise-host'], `${podName}.${domain}`, '--advertise-host = the pod\'s stable DNS name');
    assert.equal(f.host, '0.0.0.0');
    assert.equal(f['data-dir'], `${DATA_ROOT}/${cmd}`);
    for (const [k, v] of Object.entries(PORTS[cmd])) assert.equal(Number(f[k]), v, `--${k}`);
    const pdSts = k8s('StatefulSet', 'rangekv-pd');
    const pdNames = Array.from({ length: pdSts.spec.replicas }, (_, i) => `rangekv-pd-${i}.${pdSts.spec.serviceName}.${SAMPLE_NS}.svc`);
    if (cmd === 'pd') {
      assert.equal(Number(f.id), ordinal + 1, 'PD id = ordinal + 1');
      assert.equal(Number(env.PD_REPLICAS), sts.spec.replicas, 'PD_REPLICAS = replicas (--peers lists them all)');
      assert.equal(f.peers, pdNames.map((n, i) => `${i + 1}=${n}:${PORTS.pd['raft-port']}/${n}:${PORTS.pd.port}`).join(','));
      assert.equal(Number(f['initial-stores']), k8s('StatefulSet', 'rangekv-store').spec.replicas);
    } else {
      assert.equal(f.pd, pdNames.map((n) => `${n}:${PORTS.pd.port}`).join(','), '--pd lists every PD pod');
      assert.equal(f['store-id'], undefined, 'the store id comes from the certificate');
    }
    assertCliAccepts(t, cli, `k8s ${cmd}`);
  });
}

test('k8s/make-tls-secrets.sh: the Secrets the StatefulSets mount; each pod\'s certificate verifies, names its id and its DNS names', { skip: OPENSSL_SKIP }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'rangekv-k8s-tls-'));
  try {
    const r = spawnSync('sh', [join(K8S_DIR, 'make-tls-secrets.sh'), SAMPLE_NS], { encoding: 'utf8', env: { ...process.env, PKI_DIR: join(dir, 'pki') } });
    assert.equal(r.status, 0, r.stderr);
    const secrets = parseYamlDocuments(r.stdout);
    for (const sec of secrets) {
      assert.equal(sec.kind, 'Secret');
      assert.equal(sec.metadata.namespace, SAMPLE_NS, `${sec.metadata.name}: in the namespace its certificates name`);
      for (const [k, v] of Object.entries(sec.data)) assert.match(v, /^[A-Za-z0-9+/]+=*$/, `${sec.metadata.name} ${k}: base64`);
    }
    const secretData = (name) => {
      const sec = secrets.find((x) => x.metadata.name === name);
      assert.ok(sec, `make-tls-secrets.sh writes Secret ${name}`);
      return sec.data;
    };
    const pdSts = k8s('StatefulSet', 'rangekv-pd');
    const client = k8s('Service', 'rangekv-client').metadata.name;
    const tokens = new Set();
    for (const sts of [pdSts, k8s('StatefulSet', 'rangekv-store')]) {
      const cmd = sts.metadata.name.replace('rangekv-', '');
      const podSpec = sts.spec.template.spec;
      const c = podSpec.containers[0];
      const env = Object.fromEntries(c.env.map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]));
      for (let ordinal = 0; ordinal < sts.spec.replicas; ordinal++) {
        const podName = `${sts.metadata.name}-${ordinal}`;
        const f = argvFlags(podArgv(cmd, c, { ...env, POD_NAME: podName, POD_NAMESPACE: SAMPLE_NS }));
        // The pod's files as the kubelet mounts them: each key of the Secret a file in the mount.
        const local = (file) => {
          const data = secretData(secretVolumeOf(podSpec, c, file).secret.secretName);
          assert.ok(basename(file) in data, `${podName}: ${file} is a key of its Secret`);
          const p = join(dir, podName, file);
          mkdirSync(dirname(p), { recursive: true });
          writeFileSync(p, Buffer.from(data[basename(file)], 'base64'));
          return p;
        };
        const [ca, cert, key, token] = TLS_FILE_FLAGS.map((k) => local(f[k]));
        const v = verifiesAgainst(ca, cert);
        assert.ok(v.ok, `${podName}: ${v.out}`);
        assert.ok(keyMatches(cert, key), `${podName}: the key is the certificate's`);
        const names = certNames(cert);
        // PD: its --id (ordinal + 1, checked above). Store: ordinal + 1 is its id, from the certificate.
        assert.deepEqual(names.uri, [cmd === 'pd' ? `rangekv://pd/${f.id}` : `rangekv://store/${ordinal + 1}`], `${podName}: the rangekv name`);
        const want = [f['advertise-host'], `${f['advertise-host']}.cluster.local`, '127.0.0.1'];
        if (cmd === 'pd') {
          const own = f.peers.split(',').find((e) => e.startsWith(`${f.id}=`)).slice(`${f.id}=`.length);
          want.push(...own.split('/').map(hostOf), client, `${client}.${SAMPLE_NS}.svc`);
        }
        for (const host of want) assert.ok([...names.dns, ...names.ip].includes(host), `${podName}: the certificate covers ${host} (has ${names.dns.join(', ')})`);
        tokens.add(readFileSync(token, 'utf8').trim());
      }
    }
    // The stores dial PD at the PD pods' names: the same names the PD certificates carry (above).
    assert.equal(tokens.size, 1, 'one admin token for PD and the stores');
    assert.match([...tokens][0], /^\S{16,}$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('k8s: the client Service reaches PD\'s client port', () => {
  const svc = k8s('Service', 'rangekv-client');
  const pd = k8s('StatefulSet', 'rangekv-pd').spec.template;
  assert.notEqual(svc.spec.clusterIP, 'None');
  assert.ok(containsLabels(pd.metadata.labels, svc.spec.selector), 'selects the PD pods');
  const port = pd.spec.containers[0].ports.find((p) => p.name === svc.spec.ports[0].targetPort);
  assert.equal(port?.containerPort, PORTS.pd.port);
  assert.equal(svc.spec.ports[0].port, PORTS.pd.port);
});

test('kubectl kustomize builds deploy/k8s', (t) => {
  if (!onPath('kubectl')) {
    t.skip('kubectl not installed');
    return;
  }
  const r = run('kubectl', ['kustomize', K8S_DIR]);
  assert.equal(r.status, 0, r.out);
  const docs = parseYamlDocuments(r.out.replace(/^(?!.*\S).*$/gm, ''));
  assert.equal(docs.length, K8S_OBJECTS.length, 'every object comes out');
});

// ---- the image's start commands, run from this checkout -----------------------------------

/** GET over HTTPS, the server's certificate verified against `ca` for the name 127.0.0.1. */
function httpsGet(url, ca) {
  return new Promise((resolve) => {
    const req = httpsRequest(url, { ca, timeout: 3_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: e.message }));
    req.end();
  });
}

/** A process with its stdout lines collected; `event(name)` waits for a {"event":name} line. */
function startProcess(argv, env) {
  // Its own process group: cleanup kills the server below the CLI too (it holds our pipes).
  const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const lines = [];
  let err = '';
  let buf = '';
  const waiters = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      for (const w of waiters) w();
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
  // 'close' comes after the exit and after stdout and stderr were read to their end: an
  // 'exit' may be seen before the last lines are (a CI run once missed "stopped" that way).
  let closed = false;
  const exited = new Promise((resolve) => child.on('close', (code, signal) => {
    closed = true;
    for (const w of waiters) w();
    resolve({ code, signal });
  }));
  const event = (name, ms) => new Promise((resolve, reject) => {
    const check = () => {
      const hit = lines.map((l) => { try { return JSON.parse(l); } catch { return null; } }).find((e) => e?.event === name);
      if (hit) resolve(hit);
      else if (closed) reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before "${name}"; stderr:\n${err}`));
      return hit;
    };
    if (check()) return;
    waiters.push(check);
    setTimeout(() => reject(new Error(`no "${name}" event within ${ms} ms; stdout:\n${lines.join('\n')}\nstderr:\n${err}`)), ms).unref();
  });
  return { child, event, exited, stderr: () => err };
}

/** A compose command with this machine's values: loopback, free ports, a temp data dir, one PD, the mounted files where make-certs.sh wrote them. */
function localArgs(command, o) {
  const f = argvFlags(command);
  const set = { ...f };
  for (const k of TLS_FILE_FLAGS) set[k] = o.file(f[k]);
  set['data-dir'] = o.dataDir;
  set.host = '127.0.0.1';
  set['advertise-host'] = '127.0.0.1';
  Object.assign(set, o.ports);
  if (command[0] === 'pd') {
    // Only its own entry: a 1-node PD (its own entry is ignored).
    set.peers = `${f.id}=127.0.0.1:${o.ports['raft-port']}/127.0.0.1:${o.ports.port}`;
    set['initial-stores'] = '1';
    set['replica-count'] = '1';
  } else {
    set.pd = o.pd;
  }
  // Every flag of the compose command is still there, with its own value where not replaced.
  assert.deepEqual(Object.keys(f).filter((k) => !(k in set)), []);
  return [command[0], ...Object.entries(set).map(([k, v]) => (v === true ? `--${k}` : `--${k}=${v}`))];
}

test('the image\'s entrypoint with the compose pd and store commands and their certificates: /health over HTTPS, the health check, kv and ctl as in the container, STOPSIGNAL stops them cleanly', { timeout: 180_000 }, async (t) => {
  if (OPENSSL_SKIP) {
    t.skip(OPENSSL_SKIP);
    return;
  }
  if (!existsSync(CLI)) {
    t.skip('tools/cli/dist/rangekv.js not built: npm run build');
    return;
  }
  if (!existsSync('/proc/self/cmdline')) {
    t.skip('no /proc: the health check reads the server\'s command line there');
    return;
  }
  const entry = ENTRYPOINT.map(localPath);
  // The image's environment, but loopback here: no listening on every interface of this machine.
  const env = cleanEnv({ ...IMAGE_ENV, RANGEKV_HOST: '127.0.0.1' });
  const dir = mkdtempSync(join(tmpdir(), 'rangekv-image-cmd-'));
  const procs = [];
  try {
    const pdPorts = { port: await freePort(), 'raft-port': await freePort(), 'http-port': await freePort() };
    const storePorts = { port: await freePort(), 'raft-port': await freePort(), 'http-port': await freePort() };
    // The certificates as `deploy/compose/make-certs.sh` makes them; each service's mounts mapped there.
    const tlsOut = join(dir, 'tls');
    const made = run('sh', [MAKE_COMPOSE_CERTS], { env: { ...process.env, OUT_DIR: tlsOut } });
    assert.equal(made.status, 0, made.out);
    const pdSvc = COMPOSE.services['pd-1'];
    const storeSvc = COMPOSE.services['store-1'];
    const ca = readFileSync(composeHostPath(pdSvc, argvFlags(pdSvc.command)['tls-ca-file'], tlsOut));
    const pd = startProcess([...entry, ...localArgs(pdSvc.command, { dataDir: join(dir, 'pd'), ports: pdPorts, file: (f) => composeHostPath(pdSvc, f, tlsOut) })], env);
    procs.push(pd);
    const pdReady = await pd.event('ready', 30_000);
    assert.equal(pdReady.httpPort, pdPorts['http-port']);
    const store = startProcess([...entry, ...localArgs(storeSvc.command, { dataDir: join(dir, 'store'), ports: storePorts, pd: `127.0.0.1:${pdPorts.port}`, file: (f) => composeHostPath(storeSvc, f, tlsOut) })], env);
    procs.push(store);
    const storeReady = await store.event('ready', 60_000);
    assert.equal(storeReady.httpPort, storePorts['http-port']);
    assert.equal(storeReady.storeId, 1, 'store-1 is store 1: the id comes from its certificate');
    for (const [name, p, port] of [['pd', pd, pdPorts['http-port']], ['store', store, storePorts['http-port']]]) {
      // What Prometheus does: HTTPS, verified with the CA.
      const h = await httpsGet(`https://127.0.0.1:${port}/health`, ca);
      assert.equal(h.status, 200, `${name} /health: ${h.body}`);
      assert.equal(JSON.parse(h.body).status, 'serving');
      // The image's HEALTHCHECK command, pointed at this process instead of PID 1.
      const hc = JSON.parse(/CMD (\[.*\])$/.exec(finalOne('HEALTHCHECK'))[1]).map(localPath);
      const r = run(hc[0], hc.slice(1), { env: { ...env, RANGEKV_HEALTHCHECK_PID: String(p.child.pid) } });
      assert.equal(r.status, 0, `${name} health check: ${r.out}`);
      assert.match(r.out, /^200 /);
    }
    // `docker compose exec pd-1 rangekv ...`: the CLI with the container's environment (its
    // RANGEKV_TLS_* and token files), reaching PD at 127.0.0.1; an operator through the token.
    const cliEnv = cleanEnv(Object.fromEntries(Object.entries(pdSvc.environment).map(([k, v]) => [k, k in CLI_TLS_ENV ? composeHostPath(pdSvc, v, tlsOut) : v])));
    const inContainer = (...args) => run(process.execPath, [CLI, ...args, '--pd', `127.0.0.1:${pdPorts.port}`], { env: cliEnv });
    let put;
    for (let i = 0; i < 60; i++) {
      put = inContainer('kv', 'put', 'hello', 'world', '--timeout', '5s');
      if (put.status === 0) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    assert.equal(put.status, 0, put.out);
    const got = inContainer('kv', 'get', 'hello');
    assert.match(got.out, /^world$/m, got.out);
    const split = inContainer('ctl', 'split', 'm', '--timeout', '20s');
    assert.equal(split.status, 0, `ctl split with pd-1's certificate and the admin token: ${split.out}`);
    const stores = inContainer('ctl', 'stores');
    assert.equal(stores.status, 0, stores.out);
    // The health check fails (exit 1, with a reason) where no server runs.
    const idle = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      const none = run(process.execPath, [localPath(`${IMAGE_APP}/healthcheck.mjs`)], { env: { ...env, RANGEKV_HEALTHCHECK_PID: String(idle.pid) } });
      assert.equal(none.status, 1, none.out);
      assert.match(none.out, /unhealthy: no pd-main\.js or store-main\.js process/);
    } finally {
      idle.kill('SIGKILL');
    }
    // docker stop: STOPSIGNAL to the entrypoint (PID 1), which passes it on; both exit 0 after "stopped".
    const signal = finalOne('STOPSIGNAL');
    for (const [name, p] of [['store', store], ['pd', pd]]) {
      p.child.kill(signal);
      await p.event('stopped', 30_000);
      const ex = await p.exited;
      assert.deepEqual(ex, { code: 0, signal: null }, `${name} exit after ${signal}; stderr:\n${p.stderr()}`);
    }
  } finally {
    for (const p of procs) {
      try {
        process.kill(-p.child.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }
    await Promise.all(procs.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  }
});
