// Calls to the placement driver, following its leader.
//
// Any PD node may be given: a follower answers `header.error.not_leader` with the
// leader's address (followed at once) or without one during an election (the next known
// address is tried). A node that cannot be reached is skipped; after every known address
// failed once, the call backs off. `not_bootstrapped` is retried with backoff (the
// cluster is still starting). Every failure is retried until the budget runs out, which
// ends in PdUnavailableError naming the addresses tried.
//
// The addresses known are bounded (maxPdAddresses). PD's members change at run time
// (AddPdMember, RemovePdMember): setMembers() puts the addresses of the member list first
// and keeps the others (given ones, redirects) only while there is room, so a client
// started with A, B, C still reaches PD after they were replaced one by one by D, E, F,
// as long as it learned each new member before the last old one went.
import * as grpc from '@grpc/grpc-js';
import { pdService, type MethodDefinition, type pdpb } from '@rangekv/proto';
import type { Budget } from './backoff.js';
import type { ChannelPool } from './channels.js';
import { AmbiguousWriteError, DeadlineExceededError, InvalidArgumentError, PdRequestError, PdUnavailableError, RetriesExhaustedError } from './errors.js';

type PdMethods = typeof pdService;
export type PdMethodName = keyof PdMethods;
type ReqOf<K extends PdMethodName> = Parameters<PdMethods[K]['requestSerialize']>[0];
type ResOf<K extends PdMethodName> = ReturnType<PdMethods[K]['responseDeserialize']>;

/** Statuses of a call that may not have reached PD's logic, or whose answer was lost: retried (reads) or ambiguous (writes). */
const TRANSIENT = new Set<grpc.status>([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED, grpc.status.UNKNOWN]);

/** Every PD response carries `header`. */
interface WithHeader {
  header?: pdpb.ResponseHeader.$Properties | null;
}

export class PdClient {
  /** Members of the last member list first, then the others; at most maxPdAddresses. */
  private known: string[];
  /** The client addresses the last member list named. */
  private members = new Set<string>();
  private leader: string | undefined;
  private next = 0;

  constructor(
    addresses: readonly string[], private readonly pool: ChannelPool, private readonly rpcTimeoutMs: number, private readonly maxPdAddresses: number,
  ) {
    if (addresses.length === 0) throw new RangeError('at least one PD address is needed');
    if (!Number.isSafeInteger(maxPdAddresses) || maxPdAddresses <= 0) throw new RangeError(`maxPdAddresses must be a positive integer, got ${maxPdAddresses}`);
    this.known = [...new Set(addresses)];
    if (this.known.length > maxPdAddresses) throw new RangeError(`${this.known.length} PD addresses given, more than maxPdAddresses (${maxPdAddresses})`);
  }

  /** The PD addresses known so far: the last member list's first, then given ones and leaders learned from redirects. */
  addresses(): string[] {
    return [...this.known];
  }

  leaderAddress(): string | undefined {
    return this.leader;
  }

  /**
   * Adds a PD address to try (a leader named by a redirect). When maxPdAddresses are known
   * already, the last one the member list does not name makes room (or, when it names
   * them all, the last one).
   */
  learn(address: string): void {
    if (this.known.includes(address)) return;
    if (this.known.length >= this.maxPdAddresses) {
      let drop = this.known.length - 1;
      for (let i = this.known.length - 1; i >= 0; i--) {
        if (!this.members.has(this.known[i]!)) {
          drop = i;
          break;
        }
      }
      this.forget(drop);
    }
    this.known.push(address);
  }

  /**
   * PD's member list (their client addresses, '' for unknown ones skipped): they go first,
   * the other addresses known stay behind them while there is room. An empty list changes
   * nothing (a node that knows no addresses).
   */
  setMembers(addresses: readonly string[]): void {
    const named = [...new Set(addresses.filter((a) => a !== ''))].slice(0, this.maxPdAddresses);
    if (named.length === 0) return;
    this.members = new Set(named);
    const rest = this.known.filter((a) => !this.members.has(a));
    this.known = [...named, ...rest].slice(0, this.maxPdAddresses);
    if (this.leader !== undefined && !this.known.includes(this.leader)) this.leader = undefined;
  }

  private forget(i: number): void {
    const [gone] = this.known.splice(i, 1);
    if (gone === this.leader) this.leader = undefined;
  }

  private pick(): string {
    if (this.leader !== undefined) return this.leader;
    const a = this.known[this.next % this.known.length]!;
    this.next++;
    return a;
  }

  /**
   * Calls `method` on the PD leader under `budget`. `mutating`: a call that broke after it
   * was sent is not retried (AmbiguousWriteError) since PD may have acted on it.
   */
  async call<K extends PdMethodName>(method: K, req: ReqOf<K>, budget: Budget, mutating = false): Promise<ResOf<K>> {
    const def = pdService[method] as unknown as MethodDefinition<ReqOf<K>, ResOf<K>>;
    let failedInRound = 0;
    try {
      for (;;) {
        budget.check();
        const address = this.pick();
        // A mutating call cannot be retried once sent: it waits for the whole deadline
        // rather than turn a slow success into an AmbiguousWriteError.
        const timeout = Math.max(1, mutating ? budget.remainingMs() : Math.min(this.rpcTimeoutMs, budget.remainingMs()));
        const out = await this.pool.call(address, def, req, timeout);
        if (out.ok) {
          const err = (out.res as WithHeader).header?.error;
          if (!err) {
            this.leader = address;
            return out.res;
          }
          if (err.notLeader) {
            const hinted = err.notLeader.leaderAddress ?? '';
            if (hinted !== '' && hinted !== address) {
              this.learn(hinted);
              this.leader = hinted;
              await budget.retry(`PD ${address} is not the leader (leader: ${hinted})`, { immediate: true });
              continue;
            }
            this.leader = undefined;
            if (++failedInRound < this.known.length) {
              await budget.retry(`PD ${address} is not the leader and knows none`, { immediate: true });
            } else {
              failedInRound = 0;
              await budget.retry(`PD ${address} is not the leader and knows none`);
            }
            continue;
          }
          if (err.notBootstrapped) {
            this.leader = address;
            await budget.retry(`PD ${address}: cluster not bootstrapped yet`);
            continue;
          }
          throw new PdRequestError(method, err.message || 'PD refused the request');
        }
        if (out.code === grpc.status.INVALID_ARGUMENT) throw new InvalidArgumentError(out.details, address);
        if (out.code === grpc.status.UNIMPLEMENTED) throw new PdRequestError(method, `${address} does not serve the PD service (${out.details})`);
        // PD's verdicts on the request (NOT_FOUND, FAILED_PRECONDITION, ...): nothing was done, retrying will not help.
        if (!TRANSIENT.has(out.code)) throw new PdRequestError(method, `${grpc.status[out.code]}: ${out.details}`, grpc.status[out.code]);
        if (mutating && out.sent) throw new AmbiguousWriteError(method, address, `${grpc.status[out.code]}: ${out.details}`);
        this.leader = undefined;
        const reason = out.sent ? `PD ${address}: ${grpc.status[out.code]}: ${out.details}` : out.details;
        if (++failedInRound < this.known.length) {
          await budget.retry(reason, { immediate: true, unreachable: address });
        } else {
          failedInRound = 0;
          await budget.retry(reason, { unreachable: address });
        }
      }
    } catch (e) {
      if (e instanceof DeadlineExceededError || e instanceof RetriesExhaustedError) {
        throw new PdUnavailableError(this.addresses(), e.lastError);
      }
      throw e;
    }
  }
}
