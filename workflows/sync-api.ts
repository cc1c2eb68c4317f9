/**
 * The live sync's public surface: entity and control workflow ids, the event signal, queries and
 * activity contract. Signals carry an event's id, direction and kind only; its content stays in
 * the sync journal (legacy/sync-journal.ts), so nothing personal lands in Temporal history.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';

export type SyncDirection = 'oldToNew' | 'newToOld';
export type SyncRunStatus = 'not-started' | 'running' | 'paused';

export interface SyncEventRef {
  eventId: string;
  direction: SyncDirection;
  kind: string;
  /** Sent again on purpose (a parked event replayed): not a redelivery, even if this workflow saw the id. */
  replay?: true;
}

/** One entity workflow per one-to-one conversation (IM user ids) and per group (IM group id). */
export type SyncEntity = { kind: 'conversation'; users: [string, string] } | { kind: 'group'; groupId: string };

export interface EntitySyncCounts {
  applied: number;
  rejected: number;
  /** Redeliveries dropped by event id, here or by the journal. */
  duplicates: number;
}

export interface EntitySyncInput {
  entity: SyncEntity;
  /** History length that triggers continue-as-new (default SYNC_HISTORY_BUDGET; tests lower it). */
  historyEventBudget?: number;
  /** How long without events before the workflow ends (default IDLE_CLOSE_MS; tests lower it). */
  idleCloseMs?: number;
  /** State carried across continue-as-new: recent event ids (bounded), queued refs, events applied before their signal came, handoff flag, counts. */
  carried?: { recent: string[]; queue: SyncEventRef[]; appliedAhead?: string[]; historyImported: boolean; counts: EntitySyncCounts };
}

export interface EntitySyncState {
  queued: number;
  waitingFor: 'nothing' | 'events' | 'history-import' | 'sync-start-or-resume';
  counts: EntitySyncCounts;
}

export interface SyncControlInput {
  taskQueuePrefix: string;
  status?: Exclude<SyncRunStatus, 'not-started'>;
}

export const syncEventSignal = defineSignal<[SyncEventRef]>('syncEvent');
export const entitySyncQuery = defineQuery<EntitySyncState>('syncState');
export const syncStatusQuery = defineQuery<SyncRunStatus>('syncStatus');

export type ApplyOutcome = 'applied' | 'rejected' | 'duplicate' | 'paused';
export type SettledOutcome = Exclude<ApplyOutcome, 'paused'>;

/** Activities of the sync; the entity workflows run them as local activities (one server round trip per event). */
export interface SyncActivities {
  /**
   * Writes journalled events to the other side one after another, in order. Stops before the
   * first event it cannot apply now (sync paused: 'paused' is the last outcome; a transient
   * failure after some were applied: those outcomes only; on the first event: throws, to retry).
   * Pending events of the entity that arrived before the batch (their signals are late) go first,
   * and after it, up to `upTo` events in all, the entity's later pending events, all in journal
   * (arrival) order: a busy conversation or group is not held to one workflow task per event.
   * Those come back in `appliedAhead`.
   */
  applySyncEvents(input: { entityId: string; eventIds: string[]; upTo: number }): Promise<{
    outcomes: ApplyOutcome[];
    appliedAhead: Array<{ eventId: string; outcome: SettledOutcome }>;
  }>;
  /** True while the group is in the bundle and its history import has not ended. */
  groupHistoryPending(input: { groupId: string }): Promise<boolean>;
  recordSyncStatus(input: { status: Exclude<SyncRunStatus, 'not-started'> }): Promise<void>;
}

export const syncTaskQueue = (prefix: string): string => `${prefix}-sync`;
export const syncControlWorkflowId = (prefix: string): string => `${prefix}-sync`;
/** The same id whichever side an event of the conversation comes from. */
export function syncEntityWorkflowId(prefix: string, entity: SyncEntity): string {
  if (entity.kind === 'group') return `${prefix}-sync-group-${entity.groupId}`;
  const [a, b] = [...entity.users].sort();
  return `${prefix}-sync-c2c-${a}|${b}`;
}

/** The entity an entity workflow id names (the inverse of syncEntityWorkflowId; IM user ids hold no `|`). */
export function syncEntityOf(prefix: string, workflowId: string): SyncEntity {
  const group = `${prefix}-sync-group-`;
  const c2c = `${prefix}-sync-c2c-`;
  if (workflowId.startsWith(group)) return { kind: 'group', groupId: workflowId.slice(group.length) };
  if (!workflowId.startsWith(c2c)) throw new Error(`${workflowId} is no sync entity workflow id of prefix ${prefix}`);
  const [a, b] = workflowId.slice(c2c.length).split('|');
  return { kind: 'conversation', users: [a, b] };
}
