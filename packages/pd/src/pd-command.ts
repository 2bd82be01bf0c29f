// Commands of PD's raft group: each raft entry carries one, and the state machine
// (pd-state.ts) applies them in log order on every PD node.
import type { RangeDescriptor } from '@rangekv/proto';
import {
  decodeJson, descFromJson, descToJson, encodeJson, jsonNum, jsonObj, operatorFromJson, operatorToJson, PdDecodeError,
  rangeFromJson, rangeToJson, storeFromJson, storeToJson,
} from './pd-codec.js';
import type { OperatorRecord, RangeRecord, StoreMeta, StoreNodeState } from './types.js';

/** The two id counters: `store` for store ids, `id` for range, replica and operator ids. */
export type IdSpaceName = 'store' | 'id';

export type PdCommand =
  /** First leader of a new PD cluster: sets the cluster id (ignored once set). */
  | { t: 'init'; clusterId: number }
  /** Reserves `count` ids of a space: result `first` (ids [first, first + count)). */
  | { t: 'reserve'; space: IdSpaceName; count: number }
  /** Registers a store or changes its addresses (its state is kept; refused for a tombstone). */
  | { t: 'putStore'; store: StoreMeta }
  /** Decommissioning: serving -> offline -> tombstone, or offline -> serving (storeStateChangeAllowed). */
  | { t: 'setStoreState'; storeId: number; state: StoreNodeState }
  /** A run-time setting (RUNTIME_CONFIG_KEYS) over the flags; `value` null removes the override. */
  | { t: 'setConfig'; key: string; value: number | null }
  /** Pauses or resumes a scheduler (SCHEDULER_NAMES). */
  | { t: 'setSchedulerPaused'; name: string; paused: boolean }
  /** Commits range 1 (refused when already bootstrapped). */
  | { t: 'bootstrap'; descriptor: RangeDescriptor }
  /** Range records from heartbeats / operators: each kept only if newer than what PD has. */
  | { t: 'putRanges'; ranges: RangeRecord[] }
  /** A new RUNNING operator (refused while another runs on its range). */
  | { t: 'createOperator'; op: OperatorRecord }
  /** A running operator's new step or final status (refused when it is final already). */
  | { t: 'updateOperator'; op: OperatorRecord };

export interface PdCommandResult {
  ok: boolean;
  /** Why a command was refused (ok false). */
  error: string;
  /** reserve: the first id reserved. */
  first: number;
}

export function encodePdCommand(c: PdCommand): Uint8Array {
  switch (c.t) {
    case 'init': return encodeJson({ t: c.t, clusterId: c.clusterId });
    case 'reserve': return encodeJson({ t: c.t, space: c.space, count: c.count });
    case 'putStore': return encodeJson({ t: c.t, store: storeToJson(c.store) });
    case 'setStoreState': return encodeJson({ t: c.t, storeId: c.storeId, state: c.state });
    case 'setConfig': return encodeJson({ t: c.t, key: c.key, value: c.value });
    case 'setSchedulerPaused': return encodeJson({ t: c.t, name: c.name, paused: c.paused });
    case 'bootstrap': return encodeJson({ t: c.t, descriptor: descToJson(c.descriptor) });
    case 'putRanges': return encodeJson({ t: c.t, ranges: c.ranges.map(rangeToJson) });
    case 'createOperator':
    case 'updateOperator': return encodeJson({ t: c.t, op: operatorToJson(c.op) });
  }
}

export function decodePdCommand(b: Uint8Array): PdCommand {
  const o = jsonObj(decodeJson(b, 'pd command'), 'pd command');
  switch (o['t']) {
    case 'init': return { t: 'init', clusterId: jsonNum(o['clusterId'], 'clusterId') };
    case 'reserve': {
      const space = o['space'];
      if (space !== 'store' && space !== 'id') throw new PdDecodeError(`reserve: unknown id space ${String(space)}`);
      return { t: 'reserve', space, count: jsonNum(o['count'], 'count') };
    }
    case 'putStore': return { t: 'putStore', store: storeFromJson(o['store']) };
    case 'setConfig': {
      const key = o['key'];
      const value = o['value'];
      if (typeof key !== 'string') throw new PdDecodeError('setConfig: key must be a string');
      if (value !== null && (typeof value !== 'number' || !Number.isFinite(value))) throw new PdDecodeError('setConfig: value must be a finite number or null');
      return { t: 'setConfig', key, value };
    }
    case 'setSchedulerPaused': {
      const name = o['name'];
      if (typeof name !== 'string' || typeof o['paused'] !== 'boolean') throw new PdDecodeError('setSchedulerPaused: name and paused expected');
      return { t: 'setSchedulerPaused', name, paused: o['paused'] };
    }
    case 'setStoreState': {
      const state = o['state'];
      if (state !== 'serving' && state !== 'offline' && state !== 'tombstone') throw new PdDecodeError(`setStoreState: unknown state ${String(state)}`);
      return { t: 'setStoreState', storeId: jsonNum(o['storeId'], 'storeId'), state };
    }
    case 'bootstrap': return { t: 'bootstrap', descriptor: descFromJson(o['descriptor']) };
    case 'putRanges': {
      const rs = o['ranges'];
      if (!Array.isArray(rs)) throw new PdDecodeError('putRanges: expected an array');
      return { t: 'putRanges', ranges: rs.map(rangeFromJson) };
    }
    case 'createOperator': return { t: 'createOperator', op: operatorFromJson(o['op']) };
    case 'updateOperator': return { t: 'updateOperator', op: operatorFromJson(o['op']) };
    default: throw new PdDecodeError(`unknown pd command ${String(o['t'])}`);
  }
}
