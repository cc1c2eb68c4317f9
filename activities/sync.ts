/**
 * The sync's side effects: apply one journalled event to the other system, with ids translated
 * through the id mapping and the loop-prevention controls set on every write.
 *
 * - old → new: sendmsg / send_group_msg as the sender with SyncOtherMachine, ForbidAfterSendMsg-
 *   Callback and the origin marker in CloudCustomData, MsgRandom/Random from the old message id
 *   (so IM itself drops a repeat); group changes through the group REST APIs (their callbacks come
 *   back as RESTAPI + admin and the gateway drops them).
 * - new → old: the old-system adapter, with the origin the old system echoes back.
 *
 * Permanent refusals settle the event as `rejected` with the reason (reported by `sync status`);
 * anything transient throws, and the entity workflow's retry keeps later events queued behind it.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { z } from 'zod';
import { CallbackBody, CALLBACK_COMMANDS, CALLBACK_GROUP_TYPE_ALIASES, FORBID_AFTER_SEND_CALLBACK } from '../im/callbacks';
import type { ImClient } from '../im/client';
import { GROUP_ID_HELD_BY_OTHERS_CODE, GROUP_NOT_FOUND_CODE, ImError, isDocumentedOrTransport } from '../im/errors';
import { GROUP_TYPES, SILENT_MEMBER_CHANGE, SYNC_FROM_OLD_SYSTEM, type GroupType, type MsgBody } from '../im/messages';
import type { ApiLimitTable } from '../im/apis';
import { LegacyEvent, LegacyWriteRejected, ORIGIN_SYSTEM, withImOriginMarker, type LegacyWrite, type LegacyWriter } from '../legacy/bridge';
import { liveGroupRandom, messageRandom, toImGroupId, toImUserId } from '../legacy/id-mapping';
import type { StagingStore } from '../legacy/store';
import { importmsgRequest } from './import/conversations';
import { PARKED_PREFIX, type SyncJournal } from '../legacy/sync-journal';
import type { ApplyOutcome, SettledOutcome, SyncActivities } from '../workflows/sync-api';

export interface SyncDeps {
  im: ImClient;
  legacy: LegacyWriter;
  store: StagingStore;
  journal: SyncJournal;
  /** IM's limits with the settings' overrides (TIM_BATCH_<API>), as the import uses them. */
  limits: ApiLimitTable;
  /** How long an apply watches for the entity's next event (default LINGER_MS; a test raises it). */
  lingerMs?: number;
  /**
   * An event failing with an error that is neither final nor an outage (a quota, an oversized
   * batch, a code IM does not document) is parked as rejected once it has failed this long, and its
   * entity goes on; `tim-migrate sync replay-parked` sends it again. Default PARK_AFTER_MS.
   */
  parkAfterMs?: number;
}

/** See SyncDeps.parkAfterMs (TIM_SYNC_PARK_AFTER_SECONDS). */
export const PARK_AFTER_MS = 15 * 60_000;

/**
 * Failures that end by themselves, so an event waits them out however long they last: IM or the
 * old system unreachable or overloaded (transport, rate limits, IM's documented internal errors).
 */
function isOutage(err: unknown): boolean {
  if (!(err instanceof ImError)) return !(err instanceof LegacyWriteRejected);
  if (err.errorClass === 'rate-limited') return true;
  return err.errorClass === 'retryable' && isDocumentedOrTransport(err.code);
}

/** IM classes that are final for one event; auth-config is not: a fixed key must let the queue drain. */
const PERMANENT_IM_CLASSES = new Set(['missing-reference', 'invalid', 'content-rejected']);

/**
 * After an entity's journal runs dry, its apply watches for the entity's next event this long
 * before it returns: a busy conversation's next event is then applied at once instead of after a
 * workflow task ends and the next begins. Bounded per process (quiet entities must not hold the
 * local-activity slots busy ones need) and per apply.
 */
const LINGER_MS = 250;
/** How often a watch looks at the journal for events a gateway in another process recorded (one in this process wakes it at once). */
const LINGER_POLL_MS = 25;
const MAX_LINGERING = 32;
const LINGER_WITHIN_MS = 2_000;

export function createSyncActivities(deps: SyncDeps): SyncActivities {
  const { im, store, journal, limits } = deps;
  const lingerMs = deps.lingerMs ?? LINGER_MS;
  const parkAfterMs = deps.parkAfterMs ?? PARK_AFTER_MS;
  let lingering = 0;
  /** The entity's next pending event if one arrives within `lingerMs`, while this process has lingering to spare. */
  async function nextSoon(entityId: string, applyStartedMs: number): Promise<string | undefined> {
    // The apply ends within its window whatever it finds, so a busy entity's apply cannot run on
    // indefinitely (past 80 % of the workflow task timeout the SDK must heartbeat the task).
    const until = Math.min(Date.now() + lingerMs, applyStartedMs + Math.max(LINGER_WITHIN_MS, lingerMs));
    if (lingering >= MAX_LINGERING || Date.now() >= until) return undefined;
    lingering++;
    try {
      for (let now = Date.now(); now < until; now = Date.now()) {
        await journal.recordedOrAfter(entityId, Math.min(LINGER_POLL_MS, until - now));
        const eventId = journal.firstPendingOf(entityId);
        if (eventId !== undefined) return eventId;
      }
      return undefined;
    } finally {
      lingering--;
    }
  }
  /** Runs `call` on consecutive slices of at most `size` items, one after another. */
  const inBatches = async <T>(items: T[], size: number, call: (batch: T[]) => Promise<unknown>) => {
    for (let i = 0; i < items.length; i += size) await call(items.slice(i, i + size));
  };

  async function applyToIm(e: LegacyEvent, receivedAtMs: number): Promise<void> {
    const forbid = [FORBID_AFTER_SEND_CALLBACK];
    switch (e.type) {
      case 'message': {
        // A message the bundle also holds goes in as the import sends it (importmsg, its identity and
        // time; real-time, so it counts as unread and is pushed): IM then keeps one copy whichever of
        // the import and the sync writes it first, even when both do at the same instant.
        const bundled = store.message(e.messageId);
        if (bundled) {
          await withAccounts([bundled.from, bundled.to], () =>
            im.call('importmsg', importmsgRequest(bundled, 'realtime', withImOriginMarker(bundled.cloudCustomData))),
          );
          return;
        }
        // A live message keeps its own time, so one held by a pause, an outage or a handoff still stands
        // where it was sent: importmsg real-time (counted as unread and pushed; IM calls no callback for
        // an import, so it cannot echo). MsgSeq orders a second's messages by their arrival here and, with
        // MsgRandom and the time, makes a retried write one message. IM's clock bounds the time.
        const from = toImUserId(e.from);
        const to = toImUserId(e.to);
        await withAccounts([from, to], () =>
          im.call('importmsg', {
            SyncFromOldSystem: SYNC_FROM_OLD_SYSTEM.realtime,
            From_Account: from,
            To_Account: to,
            MsgSeq: receivedAtMs % 2 ** 32,
            MsgRandom: messageRandom(e.messageId),
            MsgTimeStamp: Math.min(e.time, Math.floor(Date.now() / 1000)),
            MsgBody: e.body,
            CloudCustomData: withImOriginMarker(e.cloudCustomData),
          }),
        );
        return;
      }
      case 'group.message': {
        const from = toImUserId(e.from);
        await withAccounts([from], () =>
          im.call('send_group_msg', {
            GroupId: store.imGroupIdOf(e.groupId),
            From_Account: from,
            Random: liveGroupRandom(e.messageId),
            MsgBody: e.body,
            CloudCustomData: withImOriginMarker(e.cloudCustomData),
            ForbidCallbackControl: forbid,
          }),
        );
        return;
      }
      case 'group.created': {
        const groupId = toImGroupId(e.groupId, e.groupType);
        store.recordIdMapping('group', e.groupId, groupId);
        const owner = e.owner === undefined ? undefined : toImUserId(e.owner);
        const members = e.members.map(toImUserId).filter((m) => m !== owner);
        const first = members.slice(0, limits.create_group.maxItems);
        await withAccounts([...(owner ? [owner] : []), ...members], async () => {
          try {
            await im.call('create_group', {
              Type: e.groupType,
              GroupId: groupId,
              Name: e.name,
              Owner_Account: owner,
              Introduction: e.introduction,
              Notification: e.notification,
              FaceUrl: e.faceUrl,
              MemberList: first.map((Member_Account) => ({ Member_Account })),
            });
          } catch (err) {
            // A repeat of our own create (its answer was lost) is done; a GroupId another group holds is refused for good.
            if (err instanceof ImError && err.code === GROUP_ID_HELD_BY_OTHERS_CODE) {
              throw new ImError(
                err.api,
                err.code,
                `GroupId ${groupId} belongs to another group in IM: nothing is written into it`,
                'invalid',
              );
            }
            if (!(err instanceof ImError && err.errorClass === 'already-exists')) throw err;
          }
          await addMembers(groupId, members.slice(first.length));
        });
        return;
      }
      case 'group.disbanded':
        try {
          await im.call('destroy_group', { GroupId: store.imGroupIdOf(e.groupId) });
        } catch (err) {
          if (!(err instanceof ImError && err.code === GROUP_NOT_FOUND_CODE)) throw err; // already gone
        }
        return;
      case 'group.profile_changed':
        await im.call('modify_group_base_info', {
          GroupId: store.imGroupIdOf(e.groupId),
          Name: e.changes.name,
          Introduction: e.changes.introduction,
          Notification: e.changes.notification,
          FaceUrl: e.changes.faceUrl,
        });
        return;
      case 'group.members_added': {
        const members = e.members.map(toImUserId);
        await withAccounts(members, () => addMembers(store.imGroupIdOf(e.groupId), members));
        return;
      }
      case 'group.members_removed': {
        const groupId = store.imGroupIdOf(e.groupId);
        await inBatches(e.members.map(toImUserId), limits.delete_group_member.maxItems, (batch) =>
          im.call('delete_group_member', { GroupId: groupId, Silence: SILENT_MEMBER_CHANGE, MemberToDel_Account: batch }),
        );
        return;
      }
    }
  }

  async function addMembers(groupId: string, members: string[]): Promise<void> {
    await inBatches(members, limits.add_group_member.maxItems, async (batch) => {
      const outcomes = await im.addGroupMember({
        GroupId: groupId,
        Silence: SILENT_MEMBER_CHANGE,
        MemberList: batch.map((Member_Account) => ({ Member_Account })),
      });
      const failed = outcomes.find((o) => !o.ok);
      if (failed) throw new ImError('add_group_member', failed.code, `${failed.id}: ${failed.reason ?? 'not added'}`, failed.errorClass);
    });
  }

  /** Someone who joined the old app after the import has no IM account yet: create it, then write. */
  async function withAccounts<T>(userIds: string[], write: () => Promise<T>): Promise<T> {
    try {
      return await write();
    } catch (err) {
      if (!(err instanceof ImError && err.errorClass === 'missing-reference')) throw err;
      const ids = [...new Set(userIds)];
      const imported = await im.accountCheck(ids);
      const missing = ids.filter((id) => !imported.get(id));
      if (missing.length === 0) throw err;
      const outcomes = await im.multiaccountImport({ Accounts: missing });
      if (outcomes.some((o) => !o.ok)) throw err;
      return write();
    }
  }

  function toLegacyWrite(eventId: string, cb: CallbackBody, receivedAtMs: number): LegacyWrite {
    const origin = { system: ORIGIN_SYSTEM, eventId } as const;
    const user = (id: string) => store.toOldUserId(id);
    const members = (list: Array<{ Member_Account: string }>) => list.map((m) => user(m.Member_Account));
    const time = Math.floor((cb.EventTime ?? receivedAtMs) / 1000);
    switch (cb.CallbackCommand) {
      case CALLBACK_COMMANDS.c2cAfterSendMsg:
        return {
          type: 'message',
          messageId: cb.MsgKey ?? eventId,
          from: user(cb.From_Account),
          to: user(cb.To_Account),
          time: cb.MsgTime,
          body: cb.MsgBody as MsgBody,
          cloudCustomData: cb.CloudCustomData,
          origin,
        };
      case CALLBACK_COMMANDS.groupAfterSendMsg:
        return {
          type: 'group.message',
          messageId: cb.MsgId ?? `${cb.GroupId}:${cb.MsgSeq}`,
          groupId: store.toOldGroupId(cb.GroupId),
          from: user(cb.From_Account),
          time: cb.MsgTime,
          body: cb.MsgBody as MsgBody,
          cloudCustomData: cb.CloudCustomData,
          origin,
        };
      case CALLBACK_COMMANDS.groupAfterCreate:
        return {
          type: 'group.created',
          groupId: store.toOldGroupId(cb.GroupId),
          groupType: imGroupType(cb.Type),
          owner: cb.Owner_Account === undefined ? undefined : user(cb.Owner_Account),
          name: cb.Name ?? cb.GroupId,
          members: members(cb.MemberList),
          time,
          origin,
        };
      case CALLBACK_COMMANDS.groupAfterDestroyed:
        return { type: 'group.disbanded', groupId: store.toOldGroupId(cb.GroupId), time, origin };
      case CALLBACK_COMMANDS.groupAfterInfoChanged:
        return {
          type: 'group.profile_changed',
          groupId: store.toOldGroupId(cb.GroupId),
          time,
          changes: { name: cb.Name, introduction: cb.Introduction, notification: cb.Notification, faceUrl: cb.FaceUrl },
          origin,
        };
      case CALLBACK_COMMANDS.groupAfterMemberJoin:
        return { type: 'group.members_added', groupId: store.toOldGroupId(cb.GroupId), members: members(cb.NewMemberList), time, origin };
      case CALLBACK_COMMANDS.groupAfterMemberExit:
        return {
          type: 'group.members_removed',
          groupId: store.toOldGroupId(cb.GroupId),
          members: members(cb.ExitMemberList),
          time,
          origin,
        };
    }
  }

  /** When each event that is failing (and is no outage) first failed, in this process. */
  const failingSince = new Map<string, number>();

  function reject(eventId: string, reason: string): ApplyOutcome {
    journal.settle(eventId, 'rejected', reason);
    return 'rejected';
  }

  async function applyOne(eventId: string): Promise<ApplyOutcome> {
    if (journal.status() !== 'running') return 'paused';
    const entry = journal.get(eventId);
    if (!entry) throw ApplicationFailure.nonRetryable(`event ${eventId} is not in the sync journal`, 'journal-missing');
    if (entry.outcome !== 'pending') return 'duplicate';
    try {
      if (entry.direction === 'oldToNew') {
        const event = LegacyEvent.parse(entry.payload);
        const heldByOthers = 'groupId' in event ? store.groupHeldByOthers(store.imGroupIdOf(event.groupId)) : undefined;
        if (heldByOthers) return reject(eventId, heldByOthers);
        const message = importedKind(event);
        // The export/live boundary: a message the bundle's import wrote (same old id) is in IM already.
        if (message && store.isAccepted(message.kind, message.oldId)) {
          journal.settle(eventId, 'imported');
          return 'duplicate';
        }
        await applyToIm(event, entry.receivedAtMs);
        // ... and one written here is skipped by an import of a later export that holds it.
        if (message) store.markAccepted(message.kind, [message.oldId], 'live');
      } else {
        const body = CallbackBody.parse(entry.payload);
        // Someone else's group under the same id: its members and messages are not the old system's.
        const heldByOthers = 'GroupId' in body && typeof body.GroupId === 'string' ? store.groupHeldByOthers(body.GroupId) : undefined;
        if (heldByOthers) return reject(eventId, heldByOthers);
        await deps.legacy.write(toLegacyWrite(eventId, body, entry.receivedAtMs));
      }
    } catch (err) {
      const reason = permanentReason(err);
      if (reason !== undefined) return reject(eventId, reason);
      if (isOutage(err)) throw err;
      const since = failingSince.get(eventId) ?? Date.now();
      failingSince.set(eventId, since);
      if (Date.now() - since < parkAfterMs) throw err;
      failingSince.delete(eventId);
      return reject(
        eventId,
        `${PARKED_PREFIX}failed for ${Math.round((Date.now() - since) / 1000)} s: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
    failingSince.delete(eventId);
    return journal.settle(eventId, 'applied') ? 'applied' : 'duplicate';
  }

  return {
    async applySyncEvents({ entityId, eventIds, upTo }) {
      const startedMs = Date.now();
      const outcomes: ApplyOutcome[] = [];
      const appliedAhead: Array<{ eventId: string; outcome: SettledOutcome }> = [];
      /** Applies the events `next` names, one after another, into `appliedAhead`; says why it stopped early. */
      const applyAhead = async (next: () => Promise<string | undefined>, limit: number): Promise<{ paused?: true; failure?: unknown }> => {
        while (appliedAhead.length < limit) {
          const eventId = await next();
          if (eventId === undefined) break;
          let outcome: ApplyOutcome;
          try {
            outcome = await applyOne(eventId);
          } catch (failure) {
            return { failure }; // the event stays pending
          }
          if (outcome === 'paused') return { paused: true };
          appliedAhead.push({ eventId, outcome });
        }
        return {};
      };
      // The journal's order is the order the gateway received events in. An event of the entity
      // still pending and not in the batch, found before the batch's own, arrived before them (its
      // signal is late): it goes first.
      const batch = new Set(eventIds);
      const earlier = await applyAhead(async () => {
        const eventId = journal.firstPendingOf(entityId);
        return eventId !== undefined && !batch.has(eventId) ? eventId : undefined;
      }, upTo);
      if (earlier.paused) return { outcomes: ['paused'], appliedAhead };
      if ('failure' in earlier) {
        if (appliedAhead.length === 0) throw earlier.failure;
        return { outcomes, appliedAhead };
      }
      for (const eventId of eventIds) {
        try {
          const outcome = await applyOne(eventId);
          outcomes.push(outcome);
          if (outcome === 'paused') return { outcomes, appliedAhead };
        } catch (err) {
          // Report what was applied; the workflow retries from the event that failed.
          if (outcomes.length === 0 && appliedAhead.length === 0) throw err;
          return { outcomes, appliedAhead };
        }
      }
      // Later events: a failure or a pause leaves the rest to their own signals.
      await applyAhead(async () => journal.firstPendingOf(entityId) ?? (await nextSoon(entityId, startedMs)), upTo - outcomes.length);
      return { outcomes, appliedAhead };
    },
    async groupHistoryPending({ groupId }) {
      return store.groupHistoryPending(groupId);
    },
    async recordSyncStatus({ status }) {
      journal.setStatus(status);
    },
  };
}

/** A live message as the import knows it: its kind in the record of what IM accepted, and its old id. */
function importedKind(e: LegacyEvent): { kind: 'message' | 'groupMessage'; oldId: string } | undefined {
  if (e.type === 'message') return { kind: 'message', oldId: e.messageId };
  if (e.type === 'group.message') return { kind: 'groupMessage', oldId: e.messageId };
  return undefined;
}

function permanentReason(err: unknown): string | undefined {
  if (err instanceof ImError && PERMANENT_IM_CLASSES.has(err.errorClass)) return err.message;
  if (err instanceof LegacyWriteRejected) return err.message;
  if (err instanceof z.ZodError) return `journalled event no longer matches its schema: ${err.issues[0]?.path.join('.')}`;
  return undefined;
}

function imGroupType(type: string): GroupType {
  return CALLBACK_GROUP_TYPE_ALIASES[type] ?? ((GROUP_TYPES as readonly string[]).includes(type) ? (type as GroupType) : 'Public');
}
