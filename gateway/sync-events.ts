/**
 * From an accepted request to a durable sync event: the event id that de-duplicates it, the entity
 * (conversation or group) whose workflow applies it in order, and whether it is an echo of the
 * tool's own write (recorded, never applied). Then the journal write and the signal-with-start.
 */
import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { CALLBACK_COMMANDS, REST_API_PLATFORM, type CallbackBody } from '../im/callbacks';
import { hasImOriginMarker, type LegacyEvent } from '../legacy/bridge';
import { toImGroupId, toImUserId } from '../legacy/id-mapping';
import type { SyncJournal } from '../legacy/sync-journal';
import {
  syncEntityOf,
  syncEventSignal,
  syncEntityWorkflowId,
  syncTaskQueue,
  type SyncDirection,
  type SyncEntity,
  type SyncEventRef,
} from '../workflows/sync-api';
import type { entitySyncWorkflow } from '../workflows/sync';

export interface SyncEvent {
  eventId: string;
  direction: SyncDirection;
  kind: string;
  entity: SyncEntity;
  payload: unknown;
  /** Why this is the tool's own write coming back, when it is. */
  echoOf?: string;
}

export type AcceptResult = 'queued' | 'duplicate' | 'echo';

/** Where the gateway hands events over; it answers the sender only after `accept` resolves. */
export interface SyncEventSink {
  accept(event: SyncEvent): Promise<AcceptResult>;
}

/** Group ids of the old system, as the staging store maps them. */
export interface GroupIdMapping {
  imGroupIdOf(oldId: string): string;
  recordIdMapping(kind: 'group', oldId: string, imId: string): void;
}

export function fromImCallback(body: CallbackBody, optPlatform: string, admin: string): SyncEvent {
  const base = { direction: 'newToOld' as const, kind: body.CallbackCommand, payload: body };
  switch (body.CallbackCommand) {
    case CALLBACK_COMMANDS.c2cAfterSendMsg:
      return {
        ...base,
        eventId: `im:c2c:${body.From_Account}:${body.To_Account}:${body.MsgSeq}:${body.MsgRandom}:${body.MsgTime}`,
        entity: { kind: 'conversation', users: [body.From_Account, body.To_Account] },
        echoOf: hasImOriginMarker(body.CloudCustomData) ? 'message sent by the sync (origin marker in CloudCustomData)' : undefined,
      };
    case CALLBACK_COMMANDS.groupAfterSendMsg:
      return {
        ...base,
        // MsgSeq starts again at 1 when a custom group id is disbanded and created again: MsgTime and
        // Random tell the lifetimes apart (and group_msg_get_simple returns the same three fields).
        eventId: `im:gmsg:${body.GroupId}:${body.MsgSeq}:${body.MsgTime}:${body.Random ?? ''}`,
        entity: { kind: 'group', groupId: body.GroupId },
        echoOf: hasImOriginMarker(body.CloudCustomData) ? 'message sent by the sync (origin marker in CloudCustomData)' : undefined,
      };
    default: {
      // Group changes carry no id of their own: the same callback delivered twice has the same body.
      const digest = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 24);
      // A disband names no operator (tencent-im-callbacks.md §3.3): one through REST is taken as the
      // sync's own destroy_group, so a disband by another REST caller of this app does not reach the old system.
      const byAdmin =
        optPlatform === REST_API_PLATFORM &&
        (body.CallbackCommand === CALLBACK_COMMANDS.groupAfterDestroyed || ('Operator_Account' in body && body.Operator_Account === admin));
      return {
        ...base,
        eventId: `im:${body.CallbackCommand}:${body.GroupId}:${digest}`,
        entity: { kind: 'group', groupId: body.GroupId },
        echoOf: byAdmin ? 'group change made through REST by the migration admin' : undefined,
      };
    }
  }
}

export function fromLegacyEvent(event: LegacyEvent, groups: GroupIdMapping): SyncEvent {
  // A message is identified by its own id, so a message the old system re-posts under a new event id is still one message.
  const eventId =
    event.type === 'message'
      ? `old:msg:${event.messageId}`
      : event.type === 'group.message'
        ? `old:gmsg:${event.groupId}:${event.messageId}`
        : `old:${event.eventId}`;
  const base = {
    eventId,
    direction: 'oldToNew' as const,
    kind: event.type,
    payload: event,
    echoOf: event.origin ? `write of IM event ${event.origin.eventId}` : undefined,
  };
  if (event.type === 'message') return { ...base, entity: { kind: 'conversation', users: [toImUserId(event.from), toImUserId(event.to)] } };
  let groupId: string;
  if (event.type === 'group.created') {
    groupId = toImGroupId(event.groupId, event.groupType);
    groups.recordIdMapping('group', event.groupId, groupId);
  } else {
    groupId = groups.imGroupIdOf(event.groupId);
  }
  return { ...base, entity: { kind: 'group', groupId } };
}

/** How often a gateway looks for journalled events whose signal was lost, and how old they must be. */
export const LOST_SIGNAL_SWEEP_MS = 30_000;

/** Journal first (the content stays out of Temporal), then signal-with-start the entity's workflow. */
export class TemporalSyncDispatcher implements SyncEventSink {
  constructor(
    private readonly client: Client,
    private readonly journal: SyncJournal,
    private readonly taskQueuePrefix: string,
  ) {}

  async accept(e: SyncEvent): Promise<AcceptResult> {
    const entityId = syncEntityWorkflowId(this.taskQueuePrefix, e.entity);
    const entry = { eventId: e.eventId, direction: e.direction, kind: e.kind, entityId, payload: e.payload, receivedAtMs: Date.now() };
    if (e.echoOf !== undefined) {
      this.journal.record({ ...entry, outcome: 'echo', detail: e.echoOf });
      return 'echo';
    }
    const fresh = this.journal.record({ ...entry, outcome: 'pending' });
    // A redelivery of a settled event needs nothing; a pending one is signalled again in case the
    // first signal never reached Temporal (the workflow drops the repeat by id).
    if (!fresh && this.journal.get(e.eventId)?.outcome !== 'pending') return 'duplicate';
    await this.signal(e.entity, { eventId: e.eventId, direction: e.direction, kind: e.kind });
    return fresh ? 'queued' : 'duplicate';
  }

  /** Signals a journalled pending event to its entity's workflow again: a replay of a parked event by default. */
  async resignal(e: { eventId: string; direction: SyncDirection; kind: string; entityId: string }, replay = true): Promise<void> {
    const ref: SyncEventRef = { eventId: e.eventId, direction: e.direction, kind: e.kind };
    await this.signal(syncEntityOf(this.taskQueuePrefix, e.entityId), replay ? { ...ref, replay } : ref);
  }

  /**
   * Signals again the events pending for longer than `ageMs` whose entity workflow is not running:
   * their signal was lost (Temporal unreachable when the gateway had already journalled them, which
   * IM does not resend) and no later event of the entity started the workflow. A running workflow
   * reads such events from the journal at its next apply, and ends within its idle time if none
   * comes, so a later sweep starts it. Nothing is swept while the sync is not running.
   */
  async sweepLostSignals(ageMs: number, limit = 200): Promise<number> {
    if (this.journal.status() !== 'running') return 0;
    let signalled = 0;
    for (const [entityId, events] of this.journal.stalePending(Date.now() - ageMs, limit)) {
      const running = await this.client.workflow
        .getHandle(entityId)
        .describe()
        .then(
          (d) => d.status.name === 'RUNNING',
          () => false,
        );
      if (running) continue;
      for (const e of events) await this.resignal(e, false);
      signalled += events.length;
    }
    return signalled;
  }

  /** Runs sweepLostSignals every `everyMs` until the returned function is called. */
  sweepEvery(everyMs: number, ageMs = everyMs): () => void {
    const timer = setInterval(() => void this.sweepLostSignals(ageMs).catch(() => undefined), everyMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private async signal(entity: SyncEntity, ref: SyncEventRef): Promise<void> {
    await this.client.workflow.signalWithStart<typeof entitySyncWorkflow, [SyncEventRef]>('entitySyncWorkflow', {
      workflowId: syncEntityWorkflowId(this.taskQueuePrefix, entity),
      taskQueue: syncTaskQueue(this.taskQueuePrefix),
      args: [{ entity }],
      signal: syncEventSignal,
      signalArgs: [ref],
      staticSummary:
        entity.kind === 'group'
          ? `Live sync of group ${entity.groupId}`
          : `Live sync of the conversation ${[...entity.users].sort().join(' ↔ ')}`,
    });
  }
}
