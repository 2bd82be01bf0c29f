// Simulated time. The event queue runs in integer units; one raft tick is UNITS_PER_TICK
// units, so messages, disk writes and client round trips can take a fraction of a tick.
// Times print as "tick.fraction".

export const UNITS_PER_TICK = 10;

export function formatTime(t: number): string {
  return `${Math.floor(t / UNITS_PER_TICK)}.${t % UNITS_PER_TICK}`;
}
