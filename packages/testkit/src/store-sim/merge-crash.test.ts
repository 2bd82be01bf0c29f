// Range merge under crashes at each step of its protocol (store README, "Merge"). Three
// simulated stores hold two adjacent ranges, L = [-inf, k08) and R = [k08, +inf), both led
// by store 1, the coordinator. A writer puts to keys of both ranges throughout. Store 1 is
// asked to merge R into L, and one store is crashed (losing 0-2 of its unsynced writes) at
// a chosen step, then restarted. Once everything healed and settled:
//
//   - every store agrees: merged (L covers both, R gone) or not (R there and unfrozen, L's
//     version moved by the abort), never a mix; and the admin's answer, when one came, says
//     the same;
//   - no replica failed, no host stopped on a fatal error, the simulation's invariants held
//     after every event;
//   - every key reads back (linearizably, through its leader) its latest acknowledged write
//     or a later unacknowledged one, and the whole client history is linearizable;
//   - a write to R's keys succeeds (through L, or through R again after a rollback).
//
// A failing seed prints the case, the seed, the last trace lines and the replay command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '@rangekv/raft';
import { ReplicaRole, metapb, type RangeDescriptor } from '@rangekv/proto';
import { checkKvHistory } from '../check/kv-check.js';
import { InvariantChecker } from './invariants.js';
import { SIM_TIMING } from './run-store-seed.js';
import { SimClients } from './sim-clients.js';
import { SimNetwork } from './sim-network.js';
import { SimStore } from './sim-store.js';
import { SimWorld } from './world.js';
import { AdminCommandType, decodeAdminCommand, isAdminCommand } from '@rangekv/store';

const L = 1;
const R = 2;
const SPLIT = 'k08';
const COORD = 1;
const STORES = [1, 2, 3];
const KEYS_L = ['k01', 'k03', 'k05', 'k07'];
const KEYS_R = ['k09', 'k11', 'k13', 'k15'];
/** Bound on simulated time for one step (a leadership transfer, a step point, a write). */
const STEP_MS = 10_000;
/**
 * Bound on settling after the heal. The slowest legitimate path: a watchdog abort
 * (mergeFrozenTimeoutMs 3 s in SimStore, looked at every second) after a restart, or a
 * merge's apply waiting for the right range (mergeApplyWaitMs, 30 s) before failing.
 */
const SETTLE_MS = 40_000;
const SEEDS = [1, 2, 3];
/** MERGE_CRASH_SEED=N runs only seed N; MERGE_CRASH_TRACE=1 prints the trace as it goes. */
const ONLY_SEED = process.env['MERGE_CRASH_SEED'] === undefined ? null : Number(process.env['MERGE_CRASH_SEED']);
const LIVE_TRACE = process.env['MERGE_CRASH_TRACE'] === '1';

function initialRanges(): RangeDescriptor[] {
  const replicas = () => STORES.map((id) => ({ storeId: id, replicaId: id, role: ReplicaRole.Voter }));
  const mid = Buffer.from(SPLIT);
  return [
    { rangeId: L, startKey: new Uint8Array(0), endKey: mid, epoch: { confVer: 1, version: 1 }, replicas: replicas() },
    { rangeId: R, startKey: mid, endKey: new Uint8Array(0), epoch: { confVer: 1, version: 1 }, replicas: replicas() },
  ];
}

function hdr(d: RangeDescriptor): metapb.RequestHeader.$Properties {
  return { rangeId: d.rangeId, epoch: { confVer: d.epoch.confVer, version: d.epoch.version }, readConsistency: metapb.ReadConsistency.LINEARIZABLE };
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const OUTCOMES = ['merged', 'rolled-back', 'untouched'] as const;
type Outcome = typeof OUTCOMES[number];

/** What the merge's caller heard, if anything (a crashed coordinator never answers). */
type Answer = { kind: 'none' } | { kind: 'merged' } | { kind: 'failed'; why: string };

/**
 * One run: the world, the stores, the writer, the merge. Everything a case does goes
 * through it, so each step is traced and checked.
 */
class MergeRun {
  readonly world = new SimWorld();
  readonly net: SimNetwork;
  readonly stores: SimStore[];
  readonly clients: SimClients;
  readonly prng: Prng;
  private readonly checker = new InvariantChecker();
  readonly trace: string[] = [];
  /** Per key: the last write acknowledged and the last one tried (n of value `${key}-${n}`). */
  private readonly acked = new Map<string, number>();
  private readonly tried = new Map<string, number>();
  private writing = false;
  private writers = 0;
  /** Merge entries proposed on the coordinator, per range: how many, and the last one's index. */
  private readonly adminProposals = new Map<number, { count: number; index: number }>();
  /** Whether any store applied the Freeze (else the merge may also leave no trace at all). */
  frozenSeen = false;
  answer: Answer = { kind: 'none' };
  /** L's epoch when the merge was asked. */
  planned: RangeDescriptor | null = null;

  constructor(readonly seed: number) {
    this.prng = new Prng(seed);
    this.net = new SimNetwork(this.world, new Prng(this.prng.nextUint32()), { latencyMsMin: 1, latencyMsMax: 1 + this.prng.int(4), dropRate: 0 });
    this.stores = STORES.map((id) => new SimStore(id, this.world, this.net, new Prng(this.prng.nextUint32()), {
      timing: SIM_TIMING, syncMsMin: 1, syncMsMax: 1 + this.prng.int(4), compactThresholdEntries: 50 + this.prng.int(50), compactKeepEntries: this.prng.int(10),
    }));
    this.clients = new SimClients(this.world, new Prng(this.prng.nextUint32()), {
      clients: 1, keys: [...KEYS_L, ...KEYS_R], attemptTimeoutMs: 600, opTimeoutMs: 4_000, thinkMsMax: 0,
    }, initialRanges());
    this.clients.service = (id) => this.store(id).store?.kv ?? null;
  }

  store(id: number): SimStore {
    return this.stores[id - 1]!;
  }

  t(line: string): void {
    const l = `${(this.world.now / 1000).toFixed(3).padStart(8)}s ${line}`;
    this.trace.push(l);
    if (LIVE_TRACE) console.log(l);
  }

  private readonly afterEach = (): void => {
    this.checker.check(this.stores);
    if (!this.frozenSeen && STORES.some((id) => this.replica(id, R)?.log.mergeFreeze != null)) {
      this.frozenSeen = true;
      this.t('R frozen on a store');
    }
  };

  async runFor(ms: number): Promise<void> {
    await this.world.runUntil(this.world.now + ms, this.afterEach);
  }

  /** Runs until `cond` holds, checked every 5 simulated ms. */
  async until(what: string, cond: () => boolean, boundMs = STEP_MS): Promise<void> {
    const deadline = this.world.now + boundMs;
    while (!cond()) {
      if (this.world.now > deadline) throw new Error(`not within ${boundMs} simulated ms: ${what}`);
      await this.world.runUntil(this.world.now + 5, this.afterEach);
    }
  }

  /**
   * Runs event by event until `cond` holds after one, and does `act` right then, before
   * any other event runs (a crash at that exact point of the protocol).
   */
  async at(what: string, cond: () => boolean, act: () => void): Promise<void> {
    let done = false;
    const afterEach = (): void => {
      this.afterEach();
      if (done || !cond()) return;
      done = true;
      this.t(`STEP ${what}`);
      act();
    };
    const deadline = this.world.now + STEP_MS;
    if (cond()) {
      afterEach();
      return;
    }
    while (!done) {
      if (this.world.now > deadline) throw new Error(`not within ${STEP_MS} simulated ms: ${what}`);
      await this.world.runUntil(this.world.now + 1, afterEach);
    }
  }

  replica(storeId: number, rangeId: number) {
    return this.store(storeId).store?.host.scheduler.get(rangeId);
  }

  leaderOf(rangeId: number): SimStore | null {
    return this.stores.find((s) => this.replica(s.id, rangeId)?.isLeader === true) ?? null;
  }

  /** Merge entries (Freeze, Unfreeze, CommitMerge, AbortMerge) proposed on the coordinator for `rangeId`. */
  proposals(rangeId: number): number {
    return this.adminProposals.get(rangeId)?.count ?? 0;
  }

  /** The log index of the last merge entry proposed on the coordinator for `rangeId`. */
  proposedAt(rangeId: number): number {
    return this.adminProposals.get(rangeId)?.index ?? 0;
  }

  async start(): Promise<void> {
    for (const s of this.stores) await this.world.drive(s.bootstrap(initialRanges()));
    for (const s of this.stores) await this.world.drive(s.start());
    for (const id of [L, R]) await this.leadOn(id, COORD);
    this.startWriter();
    await this.runFor(300);
  }

  /** Moves `rangeId`'s leadership to `storeId` and waits until it leads there. */
  async leadOn(rangeId: number, storeId: number): Promise<void> {
    const deadline = this.world.now + STEP_MS;
    while (this.leaderOf(rangeId)?.id !== storeId) {
      if (this.world.now > deadline) throw new Error(`range ${rangeId}: leadership did not move to store ${storeId}`);
      const l = this.leaderOf(rangeId);
      const d = l === null ? null : this.replica(l.id, rangeId)!.log.descriptor;
      if (l?.store && d) void l.store.admin.transferLeader({ header: hdr(d), toStore: storeId }).catch(() => {});
      await this.runFor(100);
    }
  }

  /** One write loop per key: `${key}-1`, `${key}-2`, ... each to an outcome before the next. */
  private startWriter(): void {
    this.writing = true;
    const keys = [...KEYS_L, ...KEYS_R];
    keys.forEach((key, i) => {
      this.writers++;
      void (async () => {
        try {
          for (let n = 1; this.writing; n++) {
            this.tried.set(key, n);
            const res = await this.clients.one(i, { kind: 'put', key, value: `${key}-${n}` });
            if (res !== null) this.acked.set(key, n);
            await this.world.sleep(0, 1 + this.prng.int(10));
          }
        } finally {
          this.writers--;
        }
      })();
    });
  }

  async stopWriter(): Promise<void> {
    this.writing = false;
    await this.until('the writers stopped', () => this.writers === 0);
  }

  /**
   * Counts the merge entries proposed on the coordinator (the only proposals made with a
   * broadcast commit here), but the BeginMerge on L that comes before the Freeze: the
   * cases count the entries that decide.
   */
  watchCoordinator(): void {
    const sched = this.store(COORD).store!.host.scheduler;
    const propose = sched.propose.bind(sched);
    sched.propose = (rangeId, data, done, opts) => {
      const res = propose(rangeId, data, done, opts);
      const begin = isAdminCommand(data) && decodeAdminCommand(data).type === AdminCommandType.BeginMerge;
      if (opts?.broadcastCommit === true && res.ok && !begin) this.adminProposals.set(rangeId, { count: this.proposals(rangeId) + 1, index: res.index });
      return res;
    };
  }

  /** Asks the coordinator to merge R into L; its answer is kept in `answer`. */
  askMerge(): void {
    const l = this.replica(COORD, L)!.log.descriptor!;
    const r = this.replica(COORD, R)!.log.descriptor!;
    this.planned = l;
    this.watchCoordinator();
    this.t(`ADMIN merge ${R} into ${L} on store ${COORD} (L version ${l.epoch.version})`);
    void this.store(COORD).store!.admin.mergeRanges({ header: hdr(l), rightRangeId: R, rightEpoch: { ...r.epoch } }).then(
      (res) => {
        this.answer = res.rangeError ? { kind: 'failed', why: res.rangeError.message ?? 'range error' } : { kind: 'merged' };
        this.t(`ADMIN merge answered: ${this.answer.kind === 'merged' ? 'merged' : this.answer.why}`);
      },
      (e: unknown) => {
        this.answer = { kind: 'failed', why: message(e) };
        this.t(`ADMIN merge refused: ${message(e)}`);
      },
    );
  }

  crash(storeId: number, keep: number): void {
    this.t(`CRASH store ${storeId} (keeps ${keep} unsynced writes)`);
    this.store(storeId).crash(keep);
  }

  async restart(storeId: number): Promise<void> {
    this.t(`RESTART store ${storeId}`);
    await this.world.drive(this.store(storeId).start(), this.afterEach);
  }

  isolate(storeId: number): void {
    this.t(`ISOLATE store ${storeId}`);
    for (const o of STORES) if (o !== storeId) {
      this.net.cut(storeId, o);
      this.net.cut(o, storeId);
    }
  }

  heal(): void {
    this.t('HEAL');
    this.net.heal();
  }

  /**
   * 'merged'; 'rolled-back' (R unfrozen, L's version moved by the abort); 'untouched' (R
   * unfrozen, L as planned: only when no store ever applied the Freeze); or why the stores
   * do not agree (yet).
   */
  outcome(): Outcome | string {
    const planned = this.planned!;
    const each = STORES.map((id) => {
      const l = this.replica(id, L)?.log.descriptor ?? null;
      const r = this.replica(id, R);
      if (l === null) return `store ${id}: no L`;
      if (r === undefined && l.endKey.length === 0) return 'merged';
      if (r !== undefined && r.log.descriptor !== null && r.log.mergeFreeze === null && Buffer.from(l.endKey).toString() === SPLIT &&
        l.epoch.version > planned.epoch.version) return 'rolled-back';
      if (r !== undefined && r.log.descriptor !== null && r.log.mergeFreeze === null && Buffer.from(l.endKey).toString() === SPLIT &&
        l.epoch.version === planned.epoch.version && !this.frozenSeen) return 'untouched';
      return `store ${id}: L ends at '${Buffer.from(l.endKey).toString()}' v${l.epoch.version}, R ${r === undefined ? 'gone' : r.log.mergeFreeze === null ? 'unfrozen' : `frozen by ${r.log.mergeFreeze.mergeId}`}`;
    });
    return each.every((o) => o === each[0]) ? each[0]! : each.join('; ');
  }

  /** Heals, restarts what is down, waits for agreement, and checks everything the header lists. */
  async settleAndCheck(): Promise<Outcome> {
    this.heal();
    for (const s of this.stores) if (!s.running) await this.restart(s.id);
    let last = '';
    await this.until('every store agrees on the merge', () => {
      last = this.outcome();
      return OUTCOMES.includes(last as Outcome);
    }, SETTLE_MS).catch((e: unknown) => {
      throw new Error(`${message(e)}: ${last}`);
    });
    const outcome = last as Outcome;
    this.t(`OUTCOME ${outcome}`);
    for (const s of this.stores) {
      const host = s.store!.host;
      assert.equal(host.fatal, null, `store ${s.id} stopped on a fatal error`);
      assert.deepEqual([...host.failedRanges], [], `store ${s.id} has failed replicas`);
    }
    if (this.answer.kind === 'merged') assert.equal(outcome, 'merged', 'the admin answered merged');
    if (this.answer.kind === 'failed' && /rolled back/.test(this.answer.why)) assert.notEqual(outcome, 'merged', `the admin answered: ${this.answer.why}`);

    await this.stopWriter();
    for (const key of [...KEYS_L, ...KEYS_R]) {
      const got = await this.readBack(key);
      const acked = this.acked.get(key) ?? 0;
      const tried = this.tried.get(key) ?? 0;
      const n = got === null ? 0 : Number(got.slice(key.length + 1));
      assert.ok(n >= acked && n <= tried, `key ${key} reads ${String(got)}: acknowledged up to ${acked}, tried up to ${tried}`);
    }
    // R's keys take writes again: through L after the merge, through R after a rollback.
    for (const key of KEYS_R) {
      await this.writeOnce(key, `${key}-after`);
      assert.equal(await this.readBack(key), `${key}-after`, `key ${key}: the write after the merge (${outcome})`);
    }
    const lin = checkKvHistory(this.clients.history.ops());
    assert.notEqual(lin.verdict, 'violation', lin.verdict === 'violation' ? `linearizability: key ${lin.key}: ${lin.explanation}` : '');
    assert.deepEqual(this.clients.problems, []);
    return outcome;
  }

  /** Writes until a write is acknowledged (an ambiguous outcome is asked again). */
  private async writeOnce(key: string, value: string): Promise<void> {
    const deadline = this.world.now + STEP_MS;
    for (;;) {
      const p = this.clients.one(90, { kind: 'put', key, value });
      const res = await this.world.drive(p, this.afterEach);
      if (res !== null) return;
      if (this.world.now > deadline) throw new Error(`a write to ${key} was not acknowledged within ${STEP_MS} simulated ms`);
    }
  }

  /** A linearizable read through the key's leader. */
  private async readBack(key: string): Promise<string | null> {
    const res = await this.world.drive(this.clients.one(91, { kind: 'get', key, mode: 'read-index' }), this.afterEach);
    if (res === null || res.kind !== 'get') throw new Error(`reading ${key} back did not complete`);
    return res.value;
  }

  async stop(): Promise<void> {
    for (const s of this.stores) if (s.store) await this.world.drive(s.store.stop());
  }
}

/** Runs `script` for each seed; a failure names the seed, the trace's end and the replay. */
function cases(name: string, script: (run: MergeRun) => Promise<void>): void {
  test(name, async () => {
    const outcomes: string[] = [];
    for (const seed of ONLY_SEED === null ? SEEDS : [ONLY_SEED]) {
      const run = new MergeRun(seed);
      try {
        await run.start();
        await script(run);
        const o = await run.settleAndCheck();
        outcomes.push(`${seed}:${o}`);
        await run.stop();
      } catch (e) {
        const replay = `MERGE_CRASH_SEED=${seed} MERGE_CRASH_TRACE=1 node --test --test-name-pattern='${name.replace(/'/g, '.')}' packages/testkit/dist/store-sim/merge-crash.test.js`;
        assert.fail(`seed ${seed} failed: ${message(e)}\n  last trace lines:\n    ${run.trace.slice(-30).join('\n    ')}\n  replay: ${replay}`);
      }
    }
    // Which way each seed went, for the reader of the test log.
    console.log(`${name}: ${outcomes.join(' ')}`);
  });
}

/** 0-2 unsynced writes survive the crash, by seed. */
function keepOf(run: MergeRun): number {
  return run.seed % 3;
}

/** A follower of both ranges, by seed. */
function followerOf(run: MergeRun): number {
  return 2 + (run.seed % 2);
}

// ---- the coordinator crashes ---------------------------------------------------------

cases('coordinator crash right after the Freeze is proposed (before it leaves the store)', async (run) => {
  run.askMerge();
  await run.at('Freeze proposed on R', () => run.proposals(R) >= 1, () => run.crash(COORD, keepOf(run)));
  await run.runFor(200 + run.prng.int(2_000));
  await run.restart(COORD);
});

cases('coordinator crash once the Freeze reached a follower\'s log, before the coordinator applied it', async (run) => {
  run.askMerge();
  await run.at('Freeze in a follower\'s log, not applied on the coordinator', () => {
    const at = run.proposedAt(R);
    return run.proposals(R) >= 1 && run.replica(COORD, R)?.log.mergeFreeze == null &&
      STORES.some((id) => id !== COORD && (run.replica(id, R)?.log.lastIndex() ?? 0) >= at);
  }, () => run.crash(COORD, keepOf(run)));
  await run.runFor(200 + run.prng.int(2_000));
  await run.restart(COORD);
});

cases('coordinator crash right after it applied the Freeze', async (run) => {
  run.askMerge();
  await run.at('Freeze applied on the coordinator', () => run.replica(COORD, R)?.log.mergeFreeze != null, () => {
    // CommitMerge comes at the catch-up wait's next look (5 ms): the trace says which side of it the crash fell.
    run.t(`CommitMerge ${run.proposals(L) === 0 ? 'not proposed yet' : 'proposed in the same event'}`);
    run.crash(COORD, keepOf(run));
  });
  await run.runFor(200 + run.prng.int(2_000));
  await run.restart(COORD);
});

cases('coordinator crash while it waits for a follower to catch up to the freeze', async (run) => {
  // The coordinator's messages to one follower are lost: the freeze commits with the other,
  // and the coordinator waits (mergeCatchUpMs, 1 s in SimStore) for the cut one.
  const slow = followerOf(run);
  run.t(`CUT ${COORD} -> ${slow}`);
  run.net.cut(COORD, slow);
  run.askMerge();
  let frozenAt = 0;
  await run.at('Freeze applied on the coordinator', () => run.replica(COORD, R)?.log.mergeFreeze != null, () => {
    frozenAt = run.world.now;
  });
  await run.at('300 ms into the catch-up wait', () => run.world.now >= frozenAt + 300, () => {
    assert.equal(run.proposals(L), 0, 'CommitMerge is not proposed while a follower lags');
    run.crash(COORD, keepOf(run));
  });
  run.net.heal(COORD, slow);
  await run.runFor(200 + run.prng.int(2_000));
  await run.restart(COORD);
});

cases('coordinator cut off from every store while it waits for a follower to catch up', async (run) => {
  const slow = followerOf(run);
  run.t(`CUT ${COORD} -> ${slow}`);
  run.net.cut(COORD, slow);
  run.askMerge();
  let frozenAt = 0;
  await run.at('Freeze applied on the coordinator', () => run.replica(COORD, R)?.log.mergeFreeze != null, () => {
    frozenAt = run.world.now;
  });
  await run.at(`${100 + (run.seed % 5) * 50} ms into the catch-up wait`, () => run.world.now >= frozenAt + 100 + (run.seed % 5) * 50, () => run.isolate(COORD));
  await run.runFor(1_500);
});

cases('coordinator crash right after CommitMerge is proposed (before it leaves the store)', async (run) => {
  run.askMerge();
  await run.at('CommitMerge proposed on L', () => run.proposals(L) >= 1, () => {
    assert.equal(run.proposals(R), 1, 'only the Freeze was proposed on R: the first L entry is CommitMerge, not AbortMerge');
    run.crash(COORD, keepOf(run));
  });
  await run.runFor(200 + run.prng.int(2_000));
  await run.restart(COORD);
});

cases('coordinator crash once CommitMerge reached a follower\'s log, before the coordinator applied it: the follower\'s log decides', async (run) => {
  run.askMerge();
  await run.at('CommitMerge in a follower\'s log, not applied on the coordinator', () => {
    const at = run.proposedAt(L);
    return run.proposals(L) >= 1 && run.replica(COORD, R) !== undefined &&
      STORES.some((id) => id !== COORD && (run.replica(id, L)?.log.lastIndex() ?? 0) >= at);
  }, () => run.crash(COORD, keepOf(run)));
  await run.runFor(200 + run.prng.int(2_000));
  await run.restart(COORD);
});

// ---- a follower crashes --------------------------------------------------------------

cases('follower crash before it applies the Freeze (restarted within or after the catch-up bound)', async (run) => {
  const f = followerOf(run);
  run.askMerge();
  await run.at('Freeze proposed on R', () => run.proposals(R) >= 1, () => run.crash(f, keepOf(run)));
  // mergeCatchUpMs is 1 s: an early restart lets the merge commit, a late one rolls it back.
  await run.runFor(run.seed % 2 === 0 ? 100 + run.prng.int(300) : 1_500 + run.prng.int(1_000));
  await run.restart(f);
});

cases('follower crash right after it applied the Freeze', async (run) => {
  const f = followerOf(run);
  run.askMerge();
  await run.at(`Freeze applied on store ${f}`, () => run.replica(f, R)?.log.mergeFreeze != null, () => run.crash(f, keepOf(run)));
  await run.runFor(200 + run.prng.int(2_000));
  await run.restart(f);
});

cases('follower cut off as CommitMerge is proposed misses it, crashes and restarts, then catches up and merges', async (run) => {
  const f = followerOf(run);
  const other = STORES.find((id) => id !== COORD && id !== f)!;
  run.askMerge();
  await run.at('CommitMerge proposed on L', () => run.proposals(L) >= 1, () => run.isolate(f));
  await run.until('the merge applied on the coordinator and the other follower', () =>
    [COORD, other].every((id) => run.replica(id, R) === undefined && run.replica(id, L)?.log.descriptor?.endKey.length === 0));
  assert.equal(run.answer.kind, 'merged');
  run.crash(f, keepOf(run));
  await run.runFor(200 + run.prng.int(500));
  await run.restart(f);
  await run.runFor(500);
  // Its R is frozen, or (its apply of the Freeze lost in the crash, no commit heard since) behind the freeze: it serves nothing either way.
  const fr = run.replica(f, R);
  assert.ok(fr !== undefined && (fr.log.mergeFreeze !== null || fr.log.applied.index < run.proposedAt(R)), 'the cut follower still holds R, frozen or behind the freeze');
  assert.equal(Buffer.from(run.replica(f, L)!.log.descriptor!.endKey).toString(), SPLIT, 'the cut follower\'s L is not merged yet');
});
