// The test command: bootstrap + build, then node's built-in runner over every compiled
// `*.test.js` under packages/*/dist, tools/cli/dist and bench/dist (the benchmarks' own
// helpers: charts, progress lines, load splitting; no benchmark runs), plus the deploy files'
// structure tests (deploy/test/*.test.mjs, plain JS). Extra arguments are passed to `node --test`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBuilt, repoRoot } from './ensure-built.mjs';

function findTests(dir, out, suffix = '.test.js') {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) findTests(p, out, suffix);
    else if (name.endsWith(suffix)) out.push(p);
  }
  return out;
}

ensureBuilt();
const files = [];
const pkgs = join(repoRoot, 'packages');
for (const pkg of readdirSync(pkgs).sort()) {
  const dist = join(pkgs, pkg, 'dist');
  if (existsSync(dist)) findTests(dist, files);
}
// The rangekv CLI's tests (they drive tools/cli/dist/rangekv.js).
if (existsSync(join(repoRoot, 'tools', 'cli', 'dist'))) findTests(join(repoRoot, 'tools', 'cli', 'dist'), files);
if (existsSync(join(repoRoot, 'bench', 'dist'))) findTests(join(repoRoot, 'bench', 'dist'), files);
// deploy/: Prometheus rules, Grafana dashboard, systemd units (no build; promtool when installed).
if (existsSync(join(repoRoot, 'deploy', 'test'))) findTests(join(repoRoot, 'deploy', 'test'), files, '.test.mjs');
if (files.length === 0) {
  console.error('no test files found under packages/*/dist');
  process.exit(1);
}
const args = ['--test', '--test-concurrency=2', ...process.argv.slice(2), ...files.sort()];
const r = spawnSync(process.execPath, args, { cwd: repoRoot, stdio: 'inherit' });
process.exit(r.status ?? 1);
