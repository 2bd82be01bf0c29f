// exitOnStopSignals in a real child process: a second stop signal during the graceful stop
// is ignored (it used to end the process at once, skipping the store's leadership drain).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const processMain = fileURLToPath(new URL('./process-main.js', import.meta.url));

function child(): ReturnType<typeof spawn> {
  const src = `
    import { exitOnStopSignals } from ${JSON.stringify(processMain)};
    const log = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
    exitOnStopSignals({ log, failed: () => false, stopped: { who: 'child' },
      stop: () => new Promise((res) => setTimeout(res, 400)) });
    process.stdout.write('ready\\n');
    setInterval(() => {}, 1000);
  `;
  return spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'inherit'] });
}

for (const [first, second] of [['SIGTERM', 'SIGTERM'], ['SIGINT', 'SIGTERM']] as const) {
  test(`${first} then ${second} during the stop: the stop completes, stopped event, exit 0`, async () => {
    const p = child();
    let out = '';
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    await new Promise<void>((resolve) => { const t = setInterval(() => { if (out.includes('ready')) { clearInterval(t); resolve(); } }, 10); });
    const exited = new Promise<[number | null, string | null]>((resolve) => p.on('exit', (code, sig) => resolve([code, sig])));
    p.kill(first);
    await new Promise((r) => setTimeout(r, 100));
    p.kill(second);
    const [code, sig] = await exited;
    assert.equal(sig, null, `killed by ${sig}`);
    assert.equal(code, 0);
    assert.match(out, /"event":"stopped","who":"child"/);
  });
}
