// Output: aligned tables for people, JSON for scripts, and how bytes are shown.
import { ReplicaRole, replicaRoleName, type OperatorInfo, type PdMemberInfo, type RangeDescriptor, type RangeInfo, type StoreInfo } from '@rangekv/client';

export function print(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
}

export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}

/** Columns padded to their widest cell; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

function asBuffer(b: Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Bytes as text: UTF-8 when it is printable, else 0x-prefixed hex (`hex`: always hex). */
export function showBytes(bytes: Uint8Array, hex = false): string {
  const b = asBuffer(bytes);
  if (hex) return b.toString('hex');
  const s = b.toString('utf8');
  // eslint-disable-next-line no-control-regex
  if (Buffer.from(s, 'utf8').equals(b) && !/[\u0000-\u001f\u007f\ufffd]/.test(s)) return s;
  return `0x${b.toString('hex')}`;
}

/** A range bound: empty start/end keys are the keyspace's ends. */
export function showBound(b: Uint8Array, side: 'start' | 'end', hex = false): string {
  if (b.length === 0) return side === 'start' ? '-inf' : '+inf';
  return showBytes(b, hex);
}

export function replicasText(d: RangeDescriptor, leaderStoreId = 0): string {
  return d.replicas.map((r) => `${r.storeId === leaderStoreId ? '*' : ''}${r.storeId}${r.role === ReplicaRole.Voter ? '' : `(${replicaRoleName(r.role)})`}`).join(',');
}

function ageText(ms: number): string {
  return ms < 1_000 ? `${ms}ms` : `${(ms / 1_000).toFixed(1)}s`;
}

/** 1536 -> "1.5KiB"; 0 (not reported) -> "-". */
function bytesText(n: number): string {
  if (n <= 0) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v}B` : `${v.toFixed(1)}${units[i]}`;
}

export function storesTable(stores: StoreInfo[]): string {
  return table(['ID', 'ADDRESS', 'STATE', 'RANGES', 'LEADERS', 'USED', 'AVAILABLE', 'CAPACITY', 'HEARTBEAT', 'HTTP'],
    stores.map((s) => [String(s.id), s.address, s.state, String(s.ranges), String(s.leaders),
      bytesText(s.usedBytes), bytesText(s.availableBytes), bytesText(s.capacityBytes), ageText(s.lastHeartbeatAgeMs), s.httpAddress || '-']));
}

/** PD's members; '-' for an address the answering node does not know. */
export function pdMembersTable(members: PdMemberInfo[]): string {
  return table(['ID', 'ADDRESS', 'RAFT-ADDRESS', 'ROLE', 'MATCH-INDEX'],
    members.map((m) => [String(m.id), m.address || '-', m.raftAddress || '-', m.role, String(m.matchIndex)]));
}

export function rangesTable(ranges: RangeInfo[], hex = false): string {
  return table(['RANGE', 'START', 'END', 'VERSION', 'CONF', 'LEADER', 'REPLICAS'],
    ranges.map((r) => [String(r.rangeId), showBound(r.startKey, 'start', hex), showBound(r.endKey, 'end', hex), String(r.epoch.version),
      String(r.epoch.confVer), r.leaderStoreId === 0 ? '-' : String(r.leaderStoreId), replicasText(r, r.leaderStoreId)]));
}

/** JSON form of a descriptor: keys as text (UTF-8, or hex with `hex`). */
export function descriptorJson(d: RangeDescriptor, hex = false): Record<string, unknown> {
  return {
    rangeId: d.rangeId, startKey: showBytesJson(d.startKey, hex), endKey: showBytesJson(d.endKey, hex), epoch: d.epoch,
    replicas: d.replicas.map((r) => ({ storeId: r.storeId, replicaId: r.replicaId, role: replicaRoleName(r.role) })),
  };
}

export function showBytesJson(b: Uint8Array, hex: boolean): string {
  return asBuffer(b).toString(hex ? 'hex' : 'utf8');
}

export function rangeJson(r: RangeInfo, hex = false): Record<string, unknown> {
  return { ...descriptorJson(r, hex), leaderStoreId: r.leaderStoreId };
}

export function operatorJson(o: OperatorInfo, hex = false): Record<string, unknown> {
  return {
    ...o,
    splitKey: showBytesJson(o.splitKey, hex),
    descriptor: o.descriptor ? descriptorJson(o.descriptor, hex) : null,
    right: o.right ? descriptorJson(o.right, hex) : null,
  };
}

export function operatorText(o: OperatorInfo): string {
  const what = o.kind === 'split' ? `split range ${o.rangeId} at ${showBytes(o.splitKey)}`
    : o.kind === 'merge' ? `merge range ${o.right ? `${o.right.rangeId} ` : ''}into range ${o.rangeId}`
    : o.kind === 'transfer-leader' ? `transfer leader of range ${o.rangeId} to store ${o.toStore}`
      : o.kind === 'add-replica' ? `add a replica of range ${o.rangeId} on store ${o.toStore}`
        : o.kind === 'remove-replica' ? `remove the replica of range ${o.rangeId} from store ${o.fromStore}`
          : `move the replica of range ${o.rangeId} from store ${o.fromStore} to store ${o.toStore}`;
  // Operators of a scheduler say so; the ones asked for by hand ('admin') print as before.
  const by = o.createdBy !== 'admin' ? ` [${o.createdBy}]` : '';
  const lines = [`operator ${o.id}${by}: ${what}: ${o.status}${o.reason ? ` (${o.reason})` : o.status === 'running' && o.step ? ` (${o.step})` : ''}`];
  if (o.status === 'succeeded') {
    const ranges = [o.descriptor, o.right].filter((d): d is RangeDescriptor => d !== undefined);
    for (const d of ranges) lines.push(`  range ${d.rangeId} [${showBound(d.startKey, 'start')}, ${showBound(d.endKey, 'end')}) version ${d.epoch.version} conf ${d.epoch.confVer} replicas ${replicasText(d)}`);
  }
  return lines.join('\n') + '\n';
}
