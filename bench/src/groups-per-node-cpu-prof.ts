// Preloaded into one store process (NODE_OPTIONS=--import <this file>; node refuses
// --cpu-prof in NODE_OPTIONS): samples its CPU with the in-process inspector and writes
// a .cpuprofile to $RANGEKV_CPU_PROF_FILE when the process exits (graceful stop).
//
// SIGUSR2 restarts the profile: what was sampled so far is dropped and sampling begins
// anew, so a benchmark can profile only its measured window (start-up and setup excluded).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const file = process.env.RANGEKV_CPU_PROF_FILE;
/** Sampling interval, µs. */
const samplingIntervalUs = 1000;

if (file) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
  session.post('Profiler.start');
  process.on('SIGUSR2', () => {
    session.post('Profiler.stop', () => session.post('Profiler.start'));
  });
  process.once('exit', () => {
    // An in-process session answers synchronously, so this runs before the process ends.
    session.post('Profiler.stop', (err, res) => {
      if (!err) writeFileSync(file, JSON.stringify(res.profile));
    });
  });
}
