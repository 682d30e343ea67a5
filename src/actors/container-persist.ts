// A container's state on disk: what is written (the OCI status, the monitor, the machine's
// snapshot, always a settled one) and how an older one is read back.
import { containerStatus, isSettled, type ContainerSnapshot } from '../machines/index.js';
import { SCHEMA_VERSION, type PersistedContainer } from '../state.js';
import type { ContainerRecord } from './container-record.js';
import type { MonitorFacts } from './container-effects.js';

/** The state.json of a container now. */
export function persistedState(record: ContainerRecord, m: MonitorFacts, snap: ContainerSnapshot, persisted: unknown): PersistedContainer {
  const status = containerStatus(snap);
  const snapshot = persisted as { value: unknown; context: Record<string, unknown>; children?: unknown };
  return {
    schemaVersion: SCHEMA_VERSION,
    ociVersion: record.ociVersion,
    id: record.id,
    bundle: record.bundle,
    rootfs: record.rootfs,
    created: record.created,
    owner: record.owner,
    annotations: record.annotations,
    status: status === 'deleted' ? 'stopped' : status,
    monitorPid: m.monitorPid,
    monitorStartTime: m.monitorStartTime,
    initPid: m.initPid,
    supervised: record.supervised,
    sandbox: record.sandbox,
    ...(record.noNewKeyring ? { noNewKeyring: true } : {}),
    ...(record.rdt ? { rdt: record.rdt } : {}),
    initStartTime: m.initStartTime,
    exitStatus: snap.context.exitStatus,
    cgroup: record.cgroup,
    // Settled as the OCI status says (an effect in flight is not restored: it would run again), and
    // without its outcome (an answer to a caller, not state).
    snapshot: isSettled(snap)
      ? { ...snapshot, context: { ...snapshot.context, outcome: null } }
      : { ...snapshot, value: status === 'creating' ? { creating: 'idle' } : status, children: {}, context: { ...snapshot.context, settled: status, outcome: null } },
  };
}

/**
 * What of a snapshot is worth a state write: a change of the OCI status (an in-between state's
 * too: a program that started while its start's poststart hooks run is running) or of what the
 * context keeps; not a kill in running, not an operation's bookkeeping.
 */
export function persistedChanged(before: ContainerSnapshot, after: ContainerSnapshot): boolean {
  const a = before.context;
  const b = after.context;
  return containerStatus(before) !== containerStatus(after) || a.exitStatus !== b.exitStatus || a.programStarted !== b.programStarted
    || a.followed !== b.followed || a.pendingSignals.length !== b.pendingSignals.length || a.pendingSignals.some((sig, i) => sig !== b.pendingSignals[i]);
}

/**
 * A persisted snapshot as this machine restores it: one written by an older runa has a flat
 * `creating` and fewer context fields.
 */
export function restorable(snapshot: unknown): unknown {
  const s = snapshot as { value: unknown; context: Record<string, unknown> };
  const status = typeof s.value === 'string' ? s.value : Object.keys(s.value as object)[0];
  const settled = status === 'creating' ? 'creating' : status === 'deleted' ? 'stopped' : status;
  return {
    ...s,
    value: s.value === 'creating' ? { creating: 'idle' } : s.value,
    context: { settled, programStarted: status === 'running', followed: null, seq: 0, ...s.context, outcome: null },
  };
}
