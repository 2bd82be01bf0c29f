// The messages between kv-vs-etcd (the coordinator) and its load client processes
// (kv-vs-etcd-client.ts), over the fork IPC channel with `serialization: 'advanced'`
// (latencies cross as a Float64Array). Per level, in this order:
//
//   coordinator                         client
//   start {op, inflight}           ->   starts its closed loops (warm-up)
//                                  <-   started
//   measure                        ->   opens the measured window
//   stop                           ->   closes it, ends its loops
//                                  <-   result {ops, latencies, cpu, ...}
//
// Before the first level: connect -> connected; after the last: close -> closed {stats}.
// A client that fails answers error {message} instead and exits.
import type { ClientSpec, Op, WindowResult } from './kv-vs-etcd-load.js';

export type ToClient =
  | { type: 'connect'; spec: ClientSpec; keys: number; valueBytes: number }
  | { type: 'start'; op: Op; inflight: number }
  | { type: 'measure' }
  | { type: 'stop' }
  | { type: 'close' };

export type FromClient =
  | { type: 'connected' }
  | { type: 'started' }
  | { type: 'result'; result: WindowResult }
  /** The target's own counters (rangekv: NotLeader answers, table refreshes, ...). */
  | { type: 'closed'; stats: Record<string, number> }
  | { type: 'error'; message: string };
