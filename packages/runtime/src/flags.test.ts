import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlagError } from './flag-error.js';
import { address, bool, custom, int, intValue, list, oneOf, port, str } from './flag-kinds.js';
import { flagUsage } from './flag-usage.js';
import { envName, flagName, flagsToArgv, parseFlags, withDefaults, type FlagsResult, type FlagSpecs, type ParsedFlags } from './flags.js';

const SPECS = {
  dataDir: str({ help: 'data directory', value: 'DIR', required: true, nonEmpty: true }),
  tickMs: int({ help: 'raft tick', value: 'MS', min: 1, max: 60_000, default: 50 }),
  storeId: int({ help: 'store id', min: 1 }),
  httpPort: port({ help: 'HTTP port', off: true, default: 0 }),
  raftPort: port({ help: 'raft port', default: 0 }),
  pd: list({ help: 'PD endpoints', value: 'H:P,..', item: (f, v) => v, unique: true }),
  ids: list({ help: 'store ids', item: (f, v) => intValue(f, v, 1), unique: true }),
  adminStdin: bool({ help: 'admin commands on stdin' }),
  logLevel: oneOf({ help: 'level', choices: ['debug', 'info', 'warn'], default: 'info' }),
  advertise: address({ help: 'advertised address' }),
  labels: custom({ help: 'k=v pairs', value: 'K=V,..', default: {} as Record<string, string>, parse: (f, v) => {
    const out: Record<string, string> = {};
    for (const kv of v.split(',')) {
      const [k, val] = kv.split('=');
      if (!k || val === undefined) throw new FlagError(`${f}: "${kv}" is not K=V`);
      out[k] = val;
    }
    return out;
  } }),
};

function parsed<S extends FlagSpecs>(r: FlagsResult<S>): ParsedFlags<S> {
  assert.equal(r.help, false);
  return r as ParsedFlags<S>;
}

function refused(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof FlagError && re.test(e.message), re.source);
}

function withConfig(doc: unknown, fn: (file: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'runtime-flags-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc));
    fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a camelCase key is a --kebab-case flag and a RANGEKV_SNAKE_CASE variable', () => {
  assert.equal(flagName('logCompactionKeepEntries'), 'log-compaction-keep-entries');
  assert.equal(envName('dataDir'), 'RANGEKV_DATA_DIR');
  assert.equal(envName('pd'), 'RANGEKV_PD');
});

test('defaults fill what no source sets; each kind parses its syntax', () => {
  const v = parsed(parseFlags(SPECS, ['--data-dir', '/d'])).values;
  assert.deepEqual(v, {
    dataDir: '/d', tickMs: 50, storeId: undefined, httpPort: 0, raftPort: 0, pd: [], ids: [], adminStdin: false, logLevel: 'info',
    advertise: undefined, labels: {},
  });
  const w = parsed(parseFlags(SPECS, ['--data-dir=/e', '--tick-ms', '20', '--store-id=3', '--http-port', 'off', '--ids', '1, 2,3',
    '--admin-stdin', '--log-level', 'warn', '--advertise', '[::1]:7000', '--labels', 'zone=a,rack=2'])).values;
  assert.deepEqual([w.dataDir, w.tickMs, w.storeId, w.httpPort, w.ids, w.adminStdin, w.logLevel, w.advertise, w.labels],
    ['/e', 20, 3, null, [1, 2, 3], true, 'warn', '[::1]:7000', { zone: 'a', rack: '2' }]);
  assert.equal(parsed(parseFlags(SPECS, ['--data-dir', 'd', '--admin-stdin=false'])).values.adminStdin, false);
});

test('bad command lines name the flag and the bad value', () => {
  const base = ['--data-dir', '/d'];
  refused(() => parseFlags(SPECS, []), /^--data-dir is required$/);
  refused(() => parseFlags(SPECS, ['--data-dir', ' ']), /^--data-dir is empty$/);
  refused(() => parseFlags(SPECS, [...base, '--tick-ms', '0']), /^--tick-ms must be in \[1, 60000\], got 0$/);
  refused(() => parseFlags(SPECS, [...base, '--tick-ms', '-5']), /^--tick-ms needs an integer, got "-5"$/);
  refused(() => parseFlags(SPECS, [...base, '--tick-ms', '1e3']), /^--tick-ms needs an integer, got "1e3"$/);
  refused(() => parseFlags(SPECS, [...base, '--raft-port', 'off']), /^--raft-port needs an integer, got "off"$/);
  refused(() => parseFlags(SPECS, [...base, '--http-port', '65536']), /^--http-port must be in \[0, 65535\], got 65536$/);
  refused(() => parseFlags(SPECS, [...base, '--ids', '1,x']), /^--ids needs an integer, got "x"$/);
  refused(() => parseFlags(SPECS, [...base, '--ids', '1,2,01']), /^--ids lists 01 twice$/);
  refused(() => parseFlags(SPECS, [...base, '--log-level', 'loud']), /^--log-level must be one of debug, info, warn, got "loud"$/);
  refused(() => parseFlags(SPECS, [...base, '--advertise', 'nohost']), /^--advertise: "nohost" is not host:port$/);
  refused(() => parseFlags(SPECS, [...base, '--advertise', 'h:0']), /^--advertise port must be in \[1, 65535\], got 0$/);
  refused(() => parseFlags(SPECS, [...base, '--labels', 'zone']), /^--labels: "zone" is not K=V$/);
  refused(() => parseFlags(SPECS, [...base, '--admin-stdin=maybe']), /^--admin-stdin must be true or false, got "maybe"$/);
  refused(() => parseFlags(SPECS, [...base, '--colour', 'blue']), /^unknown flag "--colour"$/);
  refused(() => parseFlags(SPECS, [...base, 'extra']), /^unexpected argument "extra"$/);
  refused(() => parseFlags(SPECS, [...base, '--tick-ms']), /^--tick-ms needs a value$/);
  refused(() => parseFlags(SPECS, [...base, '--tick-ms', '--store-id', '1']), /^--tick-ms needs a value$/);
  refused(() => parseFlags(SPECS, [...base, '--data-dir', '/e']), /^--data-dir given twice$/);
});

test('--help (or -h) reads no other source and checks nothing but the command line', () => {
  assert.deepEqual(parseFlags(SPECS, ['--help']), { help: true });
  assert.deepEqual(parseFlags(SPECS, ['-h', '--tick-ms', '0'], { env: { RANGEKV_CONFIG: '/nonexistent' } }), { help: true });
  refused(() => parseFlags(SPECS, ['--help', '--nope']), /unknown flag/);
});

test('precedence: command line over environment over config file over defaults', () => {
  withConfig({ 'data-dir': '/from-file', tickMs: 30, 'raft-port': 7001, 'http-port': 'off', adminStdin: true }, (file) => {
    const env = { RANGEKV_TICK_MS: '40', RANGEKV_RAFT_PORT: '7002', RANGEKV_LOG_LEVEL: 'warn', RANGEKV_STORE_ID: '' };
    const r = parsed(parseFlags(SPECS, ['--config', file, '--raft-port', '7003'], { env }));
    assert.deepEqual([r.values.dataDir, r.values.tickMs, r.values.raftPort, r.values.httpPort, r.values.adminStdin, r.values.logLevel],
      ['/from-file', 40, 7003, null, true, 'warn']);
    assert.equal(r.values.storeId, undefined, 'an empty variable counts as unset');
    assert.deepEqual(r.given, {
      dataDir: { source: 'config', raw: '/from-file' }, tickMs: { source: 'env', raw: '40' }, raftPort: { source: 'argv', raw: '7003' },
      httpPort: { source: 'config', raw: 'off' }, adminStdin: { source: 'config', raw: 'true' }, logLevel: { source: 'env', raw: 'warn' },
    });
    assert.equal(r.configFile, file);
    // RANGEKV_CONFIG names the file too; --config wins over it.
    const e = parsed(parseFlags(SPECS, [], { env: { RANGEKV_CONFIG: file } }));
    assert.equal(e.values.dataDir, '/from-file');
    refused(() => parseFlags(SPECS, ['--config', `${file}.missing`], { env: { RANGEKV_CONFIG: file } }), /not found/);
    // The command line turns a bool off that the file turns on.
    assert.equal(parsed(parseFlags(SPECS, ['--config', file, '--admin-stdin=false'])).values.adminStdin, false);
  });
});

test('config values: numbers, booleans and arrays read as their text; camelCase or kebab-case keys', () => {
  withConfig({ dataDir: '/d', ids: [3, 1], pd: ['a:1', 'b:2'], storeId: 4 }, (file) => {
    const v = parsed(parseFlags(SPECS, ['--config', file])).values;
    assert.deepEqual([v.ids, v.pd, v.storeId], [[3, 1], ['a:1', 'b:2'], 4]);
  });
});

test('bad values from the environment and the config file are named with their source', () => {
  const env = (e: Record<string, string>): (() => unknown) => () => parseFlags(SPECS, ['--data-dir', '/d'], { env: e });
  refused(env({ RANGEKV_TICK_MS: 'fast' }), /^--tick-ms needs an integer, got "fast" \(from RANGEKV_TICK_MS\)$/);
  refused(env({ RANGEKV_HTTP_PORT: '70000' }), /^--http-port must be in \[0, 65535\], got 70000 \(from RANGEKV_HTTP_PORT\)$/);
  refused(env({ RANGEKV_ADMIN_STDIN: 'yes' }), /^--admin-stdin must be true or false, got "yes" \(from RANGEKV_ADMIN_STDIN\)$/);
  withConfig({ dataDir: '/d', tickMs: 1.5 }, (file) => {
    refused(() => parseFlags(SPECS, ['--config', file]), new RegExp(`^--tick-ms needs an integer, got "1.5" \\(from config file ${file}\\)$`));
  });
  withConfig({ dataDir: '/d', logLevel: 'loud' }, (file) => {
    refused(() => parseFlags(SPECS, ['--config', file]), /^--log-level must be one of debug, info, warn, got "loud" \(from config file .*c\.json\)$/);
    // A good value on the command line hides the bad one in the file.
    assert.equal(parsed(parseFlags(SPECS, ['--config', file, '--log-level', 'debug'])).values.logLevel, 'debug');
  });
  withConfig({ dataDir: '/d', colour: 'blue' }, (file) => refused(() => parseFlags(SPECS, ['--config', file]), /config file .*: unknown key "colour"$/));
  withConfig({ dataDir: '/d', help: true }, (file) => refused(() => parseFlags(SPECS, ['--config', file]), /unknown key "help"/));
  withConfig({ dataDir: '/d', 'data-dir': '/e' }, (file) => refused(() => parseFlags(SPECS, ['--config', file]), /"data-dir" given twice/));
  withConfig({ dataDir: { path: '/d' } }, (file) => refused(() => parseFlags(SPECS, ['--config', file]), /"dataDir" must be a string, a number/));
  withConfig([1, 2], (file) => refused(() => parseFlags(SPECS, ['--config', file]), /must be a JSON object/));
  withConfig('{ not json', (file) => refused(() => parseFlags(SPECS, ['--config', file]), /^config file .*c\.json: .*JSON/));
  refused(() => parseFlags(SPECS, ['--config', '/nonexistent/c.json']), /^config file \/nonexistent\/c\.json: not found$/);
});

test('declarations are checked when made and when used', () => {
  assert.throws(() => int({ help: 'x', min: 5, max: 1 }), RangeError);
  assert.throws(() => int({ help: 'x', min: 1, default: 0 }), RangeError);
  assert.throws(() => oneOf({ help: 'x', choices: ['a', 'b'], default: 'c' as 'a' }), RangeError);
  assert.throws(() => parseFlags({ help: bool({ help: 'x' }) }, []), /built in/);
  assert.throws(() => parseFlags({ 'data-dir': str({ help: 'x' }) }, []), /camelCase/);
});

test('withDefaults: a launcher\'s own defaults (and a required flag becomes optional)', () => {
  const mine = withDefaults(SPECS, { dataDir: '/var/lib/x', raftPort: 20161 });
  const r = parsed(parseFlags(mine, []));
  assert.deepEqual([r.values.dataDir, r.values.raftPort], ['/var/lib/x', 20161]);
  assert.equal(SPECS.raftPort.default, 0, 'the declarations themselves are unchanged');
  assert.match(flagUsage(mine, { synopsis: 'usage: x' }), /--raft-port P +raft port {2}\(default 20161\)/);
});

test('flagsToArgv: what some source set, plus the asked-for defaults, as a command line giving the same values', () => {
  withConfig({ dataDir: '/d', ids: [1, 2] }, (file) => {
    const mine = withDefaults(SPECS, { raftPort: 20161 });
    const r = parsed(parseFlags(mine, ['--config', file, '--admin-stdin', '--http-port', 'off'], { env: { RANGEKV_TICK_MS: '20' } }));
    const argv = flagsToArgv(mine, r, ['raftPort']);
    assert.deepEqual(argv, ['--data-dir', '/d', '--tick-ms', '20', '--http-port', 'off', '--raft-port', '20161', '--ids', '1,2', '--admin-stdin']);
    const again = parsed(parseFlags(SPECS, argv));
    assert.deepEqual(again.values, { ...r.values });
    const off = parsed(parseFlags(SPECS, ['--data-dir', 'd', '--admin-stdin=false']));
    assert.deepEqual(flagsToArgv(SPECS, off), ['--data-dir', 'd', '--admin-stdin=false']);
  });
});

test('usage: one line per flag with its placeholder, default or (required); --config, --help and the sources', () => {
  const u = flagUsage(SPECS, { synopsis: 'usage: x-main --data-dir DIR [flags]', footer: 'Prints a ready line.' });
  const lines = u.split('\n');
  assert.equal(lines[0], 'usage: x-main --data-dir DIR [flags]');
  assert.match(u, /\n {2}--data-dir DIR +data directory {2}\(required\)\n/);
  assert.match(u, /\n {2}--tick-ms MS +raft tick {2}\(default 50\)\n/);
  assert.match(u, /\n {2}--http-port P\|off +HTTP port {2}\(default 0\)\n/);
  assert.match(u, /\n {2}--admin-stdin +admin commands on stdin\n/);
  // Too long for the column: the help goes on the next line.
  assert.match(u, /\n {2}--log-level debug\|info\|warn\n {25}level {2}\(default info\)\n/);
  assert.match(u, /\n {2}--config FILE +read flags from a JSON object/);
  assert.match(u, /RANGEKV_DATA_DIR/);
  assert.equal(lines.at(-1), 'Prints a ready line.');
});
