// rangekv ctl stores|store|ranges|split|merge|transfer-leader|add-replica|remove-replica|move-replica|operators|scheduler|config|pd members
import type { OperatorInfo, PdMemberInfo, RangeKvClient } from '@rangekv/client';
import { clientFlags, connect, isOperatorFailed } from './client-flags.js';
import { checkAddress, EXIT, intFlag, intValue, str, UsageError, type CommandSpec, type FlagSpec, type Parsed } from './command.js';
import { operatorJson, operatorText, pdMembersTable, printJson, rangeJson, rangesTable, storesTable } from './output.js';

const noWait: FlagSpec = { type: 'boolean', description: 'return once PD accepted the operator (default: wait until it succeeds or fails)' };
const hexFlag: FlagSpec = { type: 'boolean', description: 'keys on the command line and in the output are hex' };
const rangeFlag: FlagSpec = { type: 'string', value: 'ID', description: 'the range id (see `rangekv ctl ranges`)' };
const operatorDetails = 'Runs a PD operator and, unless --no-wait, waits until it is final (bounded by --timeout), then prints its status. Exit 1 when it failed or timed out.';

export const ctlStores: CommandSpec = {
  name: 'ctl stores', args: '[flags]', minPositionals: 0, maxPositionals: 0,
  summary: 'List the stores PD knows: address, state, range and leader counts, last heartbeat.',
  flags: clientFlags('10s'),
};

export const ctlStore: CommandSpec = {
  name: 'ctl store', args: 'decommission|cancel-decommission STORE [flags]', minPositionals: 2, maxPositionals: 2,
  summary: 'Decommission a store (PD moves its replicas and leaders away, then marks it tombstone), or cancel that.',
  details: 'The store shows offline while its replicas move (see `rangekv ctl stores`), tombstone once it holds none; a tombstone store is refused by PD for good. Decommissioning needs somewhere to move to: with as many stores as replicas per range, nothing moves.',
  flags: clientFlags('10s'),
  examples: ['rangekv ctl store decommission 4', 'rangekv ctl store cancel-decommission 4'],
};

export const ctlScheduler: CommandSpec = {
  name: 'ctl scheduler', args: 'list | pause NAME | resume NAME [flags]', minPositionals: 1, maxPositionals: 2,
  summary: "List PD's schedulers (enabled, paused), or pause / resume one: balance-leader, replica-checker, balance-replica, split-checker, balance-hot, merge-checker.",
  details: 'A pause is kept in PD\'s replicated state (it survives PD restarts and leader changes) until resumed; running operators finish. Pausing balance-leader also pauses the eviction of leaders from slow and decommissioned stores.',
  flags: clientFlags('10s'),
  examples: ['rangekv ctl scheduler list', 'rangekv ctl scheduler pause balance-replica'],
};

export const ctlConfig: CommandSpec = {
  name: 'ctl config', args: 'show | set KEY VALUE | reset KEY [flags]', minPositionals: 1, maxPositionals: 3,
  summary: "Show PD's run-time settings, or set one (kept in PD's replicated state over its flags), or reset one to its flag's value.",
  details: 'Settings: replicaCount, maxStoreDownTimeMs, storeDownAfterMs, leaderBalanceTolerance, maxLeaderBalanceOperators, replicaBalanceTolerance, maxReplicaBalanceOperators, maxReplicaCheckerOperators, lowSpaceRatio, rangeSplitBytes, rangeSplitKeys, maxSplitCheckerOperators, hotLoadRatio, minHotWritesPerSecond, maxHotOperators, mergeMaxSizeBytes, mergeMaxKeys, splitMergeIntervalMs, mergeScheduleLimit. A value that does not work with the others is refused (exit 1) and nothing changes.',
  flags: clientFlags('10s'),
  examples: ['rangekv ctl config show', 'rangekv ctl config set maxStoreDownTimeMs 600000', 'rangekv ctl config reset maxStoreDownTimeMs'],
};

export const ctlRanges: CommandSpec = {
  name: 'ctl ranges', args: '[flags]', minPositionals: 0, maxPositionals: 0,
  summary: 'List the ranges as PD knows them, ascending by start key: span, epoch, leader (*) and replicas.',
  flags: {
    ...clientFlags('10s'),
    start: { type: 'string', value: 'KEY', description: 'only ranges meeting [KEY, --end)' },
    end: { type: 'string', value: 'KEY', description: 'only ranges meeting [--start, KEY)' },
    limit: { type: 'string', value: 'N', description: 'at most N ranges; 0 for all', default: '0' },
    hex: hexFlag,
  },
};

export const ctlSplit: CommandSpec = {
  name: 'ctl split', args: 'KEY [flags]', minPositionals: 1, maxPositionals: 1,
  summary: 'Split the range holding KEY at KEY: the left part keeps its id, the right part [KEY, end) gets a new one.',
  details: operatorDetails,
  flags: { ...clientFlags('60s'), 'no-wait': noWait, hex: hexFlag },
  examples: ['rangekv ctl split m'],
};

export const ctlMerge: CommandSpec = {
  name: 'ctl merge', args: '--range ID [flags]', minPositionals: 0, maxPositionals: 0,
  summary: 'Merge range ID with the range to its right: the merged range keeps ID and covers both spans.',
  details: `${operatorDetails} When the right range's replicas are on other stores, PD first moves them (and its leadership) to range ID's stores, `
    + 'which can take a while (default --timeout 180s, PD\'s own limit for a merge). Both ranges need voters only, as many each; '
    + 'the last range of the keyspace has no right-hand range (refused, exit 1).',
  flags: { ...clientFlags('180s'), range: rangeFlag, 'no-wait': noWait },
  examples: ['rangekv ctl merge --range 7'],
};

export const ctlTransferLeader: CommandSpec = {
  name: 'ctl transfer-leader', args: '--range ID --to STORE [flags]', minPositionals: 0, maxPositionals: 0,
  summary: "Move the range's leadership to its voter on store STORE.",
  details: operatorDetails,
  flags: { ...clientFlags('60s'), range: rangeFlag, to: { type: 'string', value: 'STORE', description: 'target store id' }, 'no-wait': noWait },
  examples: ['rangekv ctl transfer-leader --range 1 --to 2'],
};

export const ctlAddReplica: CommandSpec = {
  name: 'ctl add-replica', args: '--range ID --store STORE [flags]', minPositionals: 0, maxPositionals: 0,
  summary: 'Add a replica of the range on store STORE (as a learner, caught up, then promoted to voter).',
  details: operatorDetails,
  flags: { ...clientFlags('60s'), range: rangeFlag, store: { type: 'string', value: 'STORE', description: 'store to add the replica on' }, 'no-wait': noWait },
  examples: ['rangekv ctl add-replica --range 1 --store 4'],
};

export const ctlRemoveReplica: CommandSpec = {
  name: 'ctl remove-replica', args: '--range ID --store STORE [flags]', minPositionals: 0, maxPositionals: 0,
  summary: "Remove the range's replica from store STORE.",
  details: operatorDetails,
  flags: { ...clientFlags('60s'), range: rangeFlag, store: { type: 'string', value: 'STORE', description: 'store losing its replica' }, 'no-wait': noWait },
  examples: ['rangekv ctl remove-replica --range 1 --store 4'],
};

export const ctlMoveReplica: CommandSpec = {
  name: 'ctl move-replica', args: '--range ID --from STORE --to STORE [flags]', minPositionals: 0, maxPositionals: 0,
  summary: "Move the range's replica from one store to another (add on --to, then remove from --from).",
  details: operatorDetails,
  flags: {
    ...clientFlags('120s'), range: rangeFlag,
    from: { type: 'string', value: 'STORE', description: 'store losing its replica' },
    to: { type: 'string', value: 'STORE', description: 'store gaining one' },
    'no-wait': noWait,
  },
  examples: ['rangekv ctl move-replica --range 1 --from 3 --to 4'],
};

export const ctlOperators: CommandSpec = {
  name: 'ctl operators', args: '[ID] [flags]', minPositionals: 0, maxPositionals: 1,
  summary: "List PD's operators (running first, then recent finished ones), or show operator ID.",
  flags: clientFlags('10s'),
};

export const ctlPdMembers: CommandSpec = {
  name: 'ctl pd members', args: 'list | add ID --raft-address HOST:PORT --client-address HOST:PORT [--replace OLD_ID] | remove ID [flags]',
  minPositionals: 1, maxPositionals: 2,
  summary: "List PD's own members (its raft group), or add a PD node to it, or remove one.",
  details: 'list: id, client address, raft address, role (leader, voter, learner) and how far the leader knows its log matches. '
    + 'add: the node ID must be running already, started with `rangekv pd --join` at --raft-address; PD adds it as a learner, waits until it caught up, '
    + 'then makes it a voter, removing --replace OLD_ID in the same step (never an even number of voters on the way); this can take tens of seconds (--timeout, default 60s). '
    + 'remove: removing the leader first hands leadership to another voter. add and remove print the members after the change; '
    + 'they are sent once: when the answer is lost (exit 1, "may or may not have applied"), list the members to see what happened (add again promotes a learner left behind).',
  flags: {
    ...clientFlags('60s'),
    'raft-address': { type: 'string', value: 'HOST:PORT', description: "add: the new node's PD-to-PD raft address" },
    'client-address': { type: 'string', value: 'HOST:PORT', description: "add: the new node's client address (what clients and stores dial)" },
    replace: { type: 'string', value: 'OLD_ID', description: 'add: the member leaving in the same step' },
  },
  examples: [
    'rangekv ctl pd members list',
    'rangekv ctl pd members add 4 --raft-address 10.0.0.4:2380 --client-address 10.0.0.4:2379 --replace 1',
    'rangekv ctl pd members remove 1',
  ],
};

const ADD_ONLY_FLAGS = ['raft-address', 'client-address', 'replace'] as const;

function membersOut(json: boolean, members: PdMemberInfo[]): number {
  if (json) printJson(members);
  else process.stdout.write(pdMembersTable(members));
  return EXIT.ok;
}

function idFlag(p: Parsed, name: string, spec: CommandSpec): number {
  const v = intFlag(p, name, spec, 1);
  if (v === undefined) throw new UsageError(`--${name} is required`, spec);
  return v;
}

function keyArg(p: Parsed, s: string, spec: CommandSpec): Buffer {
  if (p.values.hex !== true) return Buffer.from(s, 'utf8');
  if (!/^([0-9a-fA-F]{2})*$/.test(s)) throw new UsageError(`'${s}' is not hex`, spec);
  return Buffer.from(s, 'hex');
}

function printOperator(p: Parsed, op: OperatorInfo): number {
  if (p.values.json === true) printJson(operatorJson(op, p.values.hex === true));
  else process.stdout.write(operatorText(op));
  return op.status === 'failed' || op.status === 'timed-out' ? EXIT.failed : EXIT.ok;
}

export async function runCtl(spec: CommandSpec, p: Parsed): Promise<number> {
  // Check every flag before connecting.
  let action: (c: RangeKvClient, timeoutMs: number) => Promise<number>;
  const wait = p.values['no-wait'] !== true;
  const json = p.values.json === true;
  const hex = p.values.hex === true;
  switch (spec) {
    case ctlStores:
      action = async (c) => {
        const stores = await c.listStores();
        if (json) printJson(stores);
        else process.stdout.write(storesTable(stores));
        return EXIT.ok;
      };
      break;
    case ctlStore: {
      const verb = p.positionals[0]!;
      if (verb !== 'decommission' && verb !== 'cancel-decommission') throw new UsageError(`'${verb}' is not decommission or cancel-decommission`, spec);
      const id = intValue(p.positionals[1]!, 'STORE', spec, 1);
      action = async (c) => {
        const s = await c.decommissionStore(id, { cancel: verb === 'cancel-decommission' });
        if (json) printJson({ id: s.id, state: s.state });
        else process.stdout.write(`store ${s.id}: ${s.state}\n`);
        return EXIT.ok;
      };
      break;
    }
    case ctlScheduler: {
      const [verb, name] = p.positionals as [string, string | undefined];
      if (verb === 'list') {
        if (name !== undefined) throw new UsageError('list takes no NAME', spec);
        action = async (c) => {
          const { schedulers } = await c.getConfig();
          if (json) printJson(schedulers);
          else for (const s of schedulers) process.stdout.write(`${s.name.padEnd(16)} ${!s.enabled ? 'off (flag)' : s.paused ? 'paused' : 'running'}\n`);
          return EXIT.ok;
        };
      } else if (verb === 'pause' || verb === 'resume') {
        if (name === undefined) throw new UsageError(`${verb} needs a scheduler NAME`, spec);
        action = async (c) => {
          const s = await c.setSchedulerPaused(name, verb === 'pause');
          if (json) printJson(s);
          else process.stdout.write(`${s.name}: ${s.paused ? 'paused' : 'resumed'}${s.enabled ? '' : ' (off by a flag)'}\n`);
          return EXIT.ok;
        };
      } else throw new UsageError(`'${verb}' is not list, pause or resume`, spec);
      break;
    }
    case ctlConfig: {
      const [verb, key, value] = p.positionals as [string, string | undefined, string | undefined];
      if (verb === 'show') {
        if (key !== undefined) throw new UsageError('show takes no KEY', spec);
        action = async (c) => {
          const { entries } = await c.getConfig();
          if (json) printJson(entries);
          else for (const e of entries) process.stdout.write(`${e.key.padEnd(28)} ${String(e.value)}${e.overridden ? '  (set at run time)' : ''}\n`);
          return EXIT.ok;
        };
      } else if (verb === 'set' || verb === 'reset') {
        if (key === undefined) throw new UsageError(`${verb} needs a KEY`, spec);
        if (verb === 'set' && value === undefined) throw new UsageError('set needs a KEY and a VALUE', spec);
        if (verb === 'reset' && value !== undefined) throw new UsageError('reset takes no VALUE', spec);
        const v = verb === 'reset' ? 'reset' : Number(value);
        if (v !== 'reset' && (value!.trim() === '' || !Number.isFinite(v))) throw new UsageError(`VALUE '${value!}' is not a number`, spec);
        action = async (c) => {
          const e = await c.setConfig(key, v);
          if (json) printJson(e);
          else process.stdout.write(`${e.key} = ${String(e.value)}${e.overridden ? '' : ' (the flag\'s value)'}\n`);
          return EXIT.ok;
        };
      } else throw new UsageError(`'${verb}' is not show, set or reset`, spec);
      break;
    }
    case ctlRanges: {
      const startKey = keyArg(p, str(p, 'start', spec) ?? '', spec);
      const endKey = keyArg(p, str(p, 'end', spec) ?? '', spec);
      const limit = intFlag(p, 'limit', spec, 0)!;
      action = async (c) => {
        const ranges = await c.listRanges({ startKey, endKey, ...(limit > 0 ? { limit } : {}) });
        if (json) printJson(ranges.map((r) => rangeJson(r, hex)));
        else process.stdout.write(rangesTable(ranges, hex));
        return EXIT.ok;
      };
      break;
    }
    case ctlSplit: {
      const key = keyArg(p, p.positionals[0]!, spec);
      if (key.length === 0) throw new UsageError('KEY must not be empty', spec);
      action = async (c, timeoutMs) => printOperator(p, await c.split(key, { wait, timeoutMs }));
      break;
    }
    case ctlMerge: {
      const range = idFlag(p, 'range', spec);
      action = async (c, timeoutMs) => printOperator(p, await c.merge(range, { wait, timeoutMs }));
      break;
    }
    case ctlTransferLeader: {
      const range = idFlag(p, 'range', spec);
      const to = idFlag(p, 'to', spec);
      action = async (c, timeoutMs) => printOperator(p, await c.transferLeader(range, to, { wait, timeoutMs }));
      break;
    }
    case ctlAddReplica: {
      const range = idFlag(p, 'range', spec);
      const store = idFlag(p, 'store', spec);
      action = async (c, timeoutMs) => printOperator(p, await c.addReplica(range, store, { wait, timeoutMs }));
      break;
    }
    case ctlRemoveReplica: {
      const range = idFlag(p, 'range', spec);
      const store = idFlag(p, 'store', spec);
      action = async (c, timeoutMs) => printOperator(p, await c.removeReplica(range, store, { wait, timeoutMs }));
      break;
    }
    case ctlMoveReplica: {
      const range = idFlag(p, 'range', spec);
      const from = idFlag(p, 'from', spec);
      const to = idFlag(p, 'to', spec);
      if (from === to) throw new UsageError('--from and --to must differ', spec);
      action = async (c, timeoutMs) => printOperator(p, await c.moveReplica(range, from, to, { wait, timeoutMs }));
      break;
    }
    case ctlOperators: {
      const id = p.positionals[0] === undefined ? undefined : intValue(p.positionals[0], 'ID', spec, 1);
      action = async (c) => {
        if (id !== undefined) return printOperator(p, await c.getOperator(id));
        const ops = await c.listOperators();
        if (json) printJson(ops.map((o) => operatorJson(o)));
        else if (ops.length === 0) process.stderr.write('(no operators)\n');
        else for (const o of ops) process.stdout.write(operatorText(o));
        return EXIT.ok;
      };
      break;
    }
    case ctlPdMembers: {
      const [verb, idText] = p.positionals as [string, string | undefined];
      if (verb !== 'add') {
        for (const f of ADD_ONLY_FLAGS) if (p.given.has(f)) throw new UsageError(`--${f} is only for add`, spec);
      }
      if (verb === 'list') {
        if (idText !== undefined) throw new UsageError('list takes no ID', spec);
        action = async (c) => {
          const m = await c.listPdMembers();
          if (json) printJson(m);
          else process.stdout.write(`${pdMembersTable(m.members)}${m.commitIndex > 0 ? `commit index ${m.commitIndex}\n` : ''}`);
          return EXIT.ok;
        };
      } else if (verb === 'add') {
        if (idText === undefined) throw new UsageError('add needs the new member\'s ID', spec);
        const id = intValue(idText, 'ID', spec, 1);
        const raftAddress = str(p, 'raft-address', spec);
        const clientAddress = str(p, 'client-address', spec);
        if (raftAddress === undefined) throw new UsageError('--raft-address is required', spec);
        if (clientAddress === undefined) throw new UsageError('--client-address is required', spec);
        checkAddress(raftAddress, '--raft-address', spec);
        checkAddress(clientAddress, '--client-address', spec);
        const replaceId = intFlag(p, 'replace', spec, 1);
        if (replaceId === id) throw new UsageError(`--replace must name another member than ID ${id}`, spec);
        action = async (c, timeoutMs) =>
          membersOut(json, await c.addPdMember({ id, raftAddress, clientAddress, ...(replaceId !== undefined ? { replaceId } : {}) }, { timeoutMs }));
      } else if (verb === 'remove') {
        if (idText === undefined) throw new UsageError('remove needs the member\'s ID', spec);
        const id = intValue(idText, 'ID', spec, 1);
        action = async (c, timeoutMs) => membersOut(json, await c.removePdMember(id, { timeoutMs }));
      } else throw new UsageError(`'${verb}' is not list, add or remove`, spec);
      break;
    }
    default:
      throw new Error(`not a ctl command: ${spec.name}`);
  }
  const { client, timeoutMs } = await connect(p, spec);
  try {
    return await action(client, timeoutMs);
  } catch (e) {
    if (!isOperatorFailed(e)) throw e;
    // The final status goes to stdout like a success's; the error line to stderr.
    printOperator(p, e.operator);
    process.stderr.write(`error: ${e.message}\n`);
    return EXIT.failed;
  } finally {
    client.close();
  }
}

export const CTL_COMMANDS: Record<string, CommandSpec> = {
  stores: ctlStores, store: ctlStore, ranges: ctlRanges, split: ctlSplit, merge: ctlMerge, 'transfer-leader': ctlTransferLeader, 'add-replica': ctlAddReplica,
  'remove-replica': ctlRemoveReplica, 'move-replica': ctlMoveReplica, operators: ctlOperators, scheduler: ctlScheduler, config: ctlConfig,
  'pd members': ctlPdMembers,
};
