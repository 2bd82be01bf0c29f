// The image's HEALTHCHECK: GET /health of the PD or store process this container runs; exit 0
// when it answers 200 (PD: serving; store: serving, not starting/stopping/failed), else 1.
//
//   node /opt/rangekv/healthcheck.mjs
//
// The HTTP port and host come from the server's own command line: `rangekv pd|store` runs
// pd-main.js / store-main.js as a child with every resolved flag on its command line
// (whether it was given as a flag, a RANGEKV_* variable or in --config), so this reads
// /proc/<pid>/cmdline of PID 1 (the CLI, the container's entrypoint) or of a process below it. No
// --http-port there means an ephemeral HTTP port: unhealthy, with a message saying so.
// RANGEKV_HEALTHCHECK_PID replaces PID 1 (deploy/test/deploy.test.mjs checks processes
// that are not PID 1). Plain node, no dependency: the slim image has no curl.
import { readdirSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

const MAINS = /(?:^|\/)(pd-main|store-main)\.js$/;

function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
  } catch {
    return null;
  }
}

function parentOf(pid) {
  try {
    // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/**
 * The server's argv: `root` itself when it is pd-main/store-main, else the first such process
 * below it (the CLI's child; under `docker run --init` or a shell without exec, one level
 * further down).
 */
function serverArgv(root) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = parentOf(name);
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(Number(name));
  }
  const queue = [root];
  for (let k = 0; k < queue.length && k < 64; k++) {
    const argv = cmdline(queue[k]);
    if (argv !== null && argv.some((a) => MAINS.test(a))) return argv;
    queue.push(...(children.get(queue[k]) ?? []));
  }
  return null;
}

function flag(argv, name) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1];
    if (argv[i].startsWith(`--${name}=`)) return argv[i].slice(name.length + 3);
  }
  return undefined;
}

function fail(msg) {
  process.stderr.write(`unhealthy: ${msg}\n`);
  process.exit(1);
}

const root = Number(process.env.RANGEKV_HEALTHCHECK_PID || 1);
const argv = serverArgv(root);
if (argv === null) fail(`no pd-main.js or store-main.js process at PID ${root} or among its children (still starting, or exited)`);
const port = flag(argv, 'http-port');
if (port === undefined || port === '0' || port === 'off') {
  fail(`the server runs without a fixed --http-port (${port ?? 'default 0, ephemeral'}): give --http-port (PD 2381, store 20162)`);
}
let host = flag(argv, 'host') ?? '127.0.0.1';
// A wildcard listener answers on loopback too.
if (host === '0.0.0.0' || /^\[?[0:]+\]?$/.test(host)) host = '127.0.0.1';
host = host.replace(/^\[(.*)\]$/, '$1');

// --http-tls: HTTPS with the server's certificate; this checks liveness, not identity.
const https = argv.includes('--http-tls') || argv.includes('--http-tls=true');
const request = https ? httpsRequest : httpRequest;
const req = request({ host, port: Number(port), path: '/health', method: 'GET', timeout: 3_000, ...(https ? { rejectUnauthorized: false } : {}) }, (res) => {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (c) => (body += c));
  res.on('end', () => {
    process.stdout.write(`${res.statusCode} ${body.trim()}\n`);
    process.exit(res.statusCode === 200 ? 0 : 1);
  });
});
req.on('timeout', () => req.destroy(new Error('no answer within 3 s')));
req.on('error', (e) => fail(`GET ${https ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/health: ${e.message}`));
req.end();
