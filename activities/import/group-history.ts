/**
 * A group's history and the handoff to the live sync: the group is held (muted) while its messages
 * go in, then released; messages resume after what IM already holds.
 */
import { heartbeat } from '@temporalio/activity';
import type { ItemOutcome } from '../../im/client';
import { GROUP_UNUSABLE_CODES, ImError, imErrorInfo, isRetryableClass } from '../../im/errors';
import { OLDER_THAN_NEWEST_REASON } from '../../im/messages';
import { importedMessageIdentity } from '../../legacy/id-mapping';
import type { ImportActivities } from '../contracts';
import { asActivity } from '../im-failures';
import { retryLater, type ImportContext } from './context';
import { groupInfoError } from './groups';

export function groupHistoryActivities(
  ctx: ImportContext,
): Pick<ImportActivities, 'holdGroupHistory' | 'releaseGroupHistory' | 'importGroupMessagesPage'> {
  const { im, source, failures, limits, nowS, handoff, fail, settleOutcomes, refusedCall, reportStopped, asPage } = ctx;

  /**
   * The old ids of `planned` that IM holds: its messages from the newest back to the first planned
   * send time, matched by Random (no two of a group's imported messages share one). A message newer
   * than some of them may be our own earlier attempt's (its answer lost) or a live post: only IM's
   * history tells, and a live post must not make the history it overtook count as done.
   */
  async function heldByIm(
    groupId: string,
    planned: Array<{ m: { oldId: string }; sendTime: number; random: number }>,
    nextMsgSeq: number,
  ): Promise<Set<string>> {
    const oldIdOf = new Map(planned.map((p) => [p.random, p.m.oldId]));
    const since = planned[0].sendTime;
    const held = new Set<string>();
    const perCall = limits.group_msg_get_simple.maxItems;
    for (let seq = nextMsgSeq - 1; seq >= 1; seq -= perCall) {
      const res = await im.call('group_msg_get_simple', { GroupId: groupId, ReqMsgSeq: seq, ReqMsgNumber: perCall });
      const page = res.RspMsgList ?? [];
      for (const msg of page) {
        const oldId = msg.MsgRandom === undefined ? undefined : oldIdOf.get(msg.MsgRandom);
        if (oldId !== undefined && msg.MsgTimeStamp >= since) held.add(oldId);
      }
      heartbeat();
      if (page.length === 0 || Math.min(...page.map((m) => m.MsgTimeStamp)) < since) break;
    }
    return held;
  }

  return {
    holdGroupHistory: ({ migrationId, groupId }) =>
      asActivity(async () => {
        if (handoff !== 'mute') return { muted: false };
        let hold = source.groupHistoryHold(groupId);
        // The group's own setting is recorded before it is changed, once per hold: a retry after the
        // mute must not take the mute for the group's own setting.
        if (!hold || hold.restoredAt !== undefined) {
          const info = (
            await im.call('get_group_info', { GroupIdList: [groupId], ResponseFilter: { GroupBaseInfoFilter: ['MuteAllMember'] } })
          ).GroupInfo[0];
          // A group IM refuses is reported by the stages that follow, with IM's reason.
          if (info && GROUP_UNUSABLE_CODES.includes(info.ErrorCode)) return { muted: false };
          if (!info || info.ErrorCode !== 0) throw groupInfoError(info);
          source.recordGroupHistoryHold({ groupId, migrationId, originalMute: info.MuteAllMember ?? info.ShutUpAllMember ?? 'Off' });
          hold = source.groupHistoryHold(groupId)!;
        }
        if (hold.originalMute !== 'On') await im.call('modify_group_base_info', { GroupId: groupId, MuteAllMember: 'On' });
        source.markGroupHistoryHold(groupId, 'muted');
        return { muted: true };
      }),

    releaseGroupHistory: ({ groupId }) =>
      asActivity(async () => {
        const hold = source.groupHistoryHold(groupId);
        if (!hold || hold.restoredAt !== undefined) return { restored: false };
        if (hold.originalMute !== 'On') {
          try {
            await im.call('modify_group_base_info', { GroupId: groupId, MuteAllMember: 'Off' });
          } catch (err) {
            // A group that is gone or no longer ours has nothing to restore.
            if (!(err instanceof ImError) || !GROUP_UNUSABLE_CODES.includes(err.code)) throw err;
          }
        }
        source.markGroupHistoryHold(groupId, 'restored');
        return { restored: true };
      }),

    importGroupMessagesPage: ({ migrationId, groupId, after, calls, perCall: asked }) =>
      asPage(migrationId, after, async (progress) => {
        const perCall = Math.min(asked ?? Infinity, limits.import_group_msg.maxItems);
        const cursor = GroupHistoryCursor.parse(after);
        const group = source.group(groupId);
        const page = source.groupMessages(groupId, { after: cursor.after, limit: calls * perCall });
        if (page.items.length === 0) return { done: 0, failed: 0 };
        // IM needs strictly increasing times after the group's creation: messages sharing a second
        // (or older than the group) move to the next free second, in the bundle's order (the store's).
        let last = Math.max(cursor.lastSendTime, group?.createTime ?? 0);
        const planned = page.items.map((m) => {
          last = Math.max(m.time, last + 1);
          return { m, sendTime: last, random: importedMessageIdentity(m).random };
        });
        const next = page.next === undefined ? undefined : GroupHistoryCursor.format({ after: page.next, lastSendTime: last });
        const info = (
          await im.call('get_group_info', {
            GroupIdList: [groupId],
            ResponseFilter: { GroupBaseInfoFilter: ['LastMsgTime', 'NextMsgSeq'] },
          })
        ).GroupInfo[0];
        if (info && info.ErrorCode !== 0) {
          const err = new ImError('get_group_info', info.ErrorCode, info.ErrorInfo || imErrorInfo(info.ErrorCode));
          if (!GROUP_UNUSABLE_CODES.includes(err.code)) throw err;
          return {
            ...refusedCall(
              migrationId,
              'groupMessage',
              planned.map((p) => p.m.oldId),
              err,
            )!,
            next,
          };
        }
        // IM's newest message covers these: what IM holds (an earlier attempt whose answer was lost, a
        // re-run) is done; the rest can never go in (a live post overtook them, or an earlier attempt
        // reported them) and is in the failure report, never counted as done.
        const imLast = info?.LastMsgTime ?? 0;
        const covered = planned.filter((p) => p.sendTime <= imLast);
        const held = covered.length > 0 ? await heldByIm(groupId, planned, info?.NextMsgSeq ?? 1) : new Set<string>();
        const counts = { done: 0, failed: 0 };
        for (const p of covered) {
          if (held.has(p.m.oldId)) {
            failures.clearFailure(migrationId, 'groupMessage', p.m.oldId);
            counts.done++;
            continue;
          }
          if (!failures.isFailed(migrationId, 'groupMessage', p.m.oldId))
            fail(migrationId, 'groupMessage', p.m.oldId, 'import_group_msg', 10004, 'invalid', OLDER_THAN_NEWEST_REASON);
          counts.failed++;
        }
        const pending = planned.filter((p) => p.sendTime > imLast);
        const now = nowS();
        for (let i = 0; i < pending.length; i += perCall) {
          const chunk = pending.slice(i, i + perCall);
          const tooNew = chunk.filter((p) => p.sendTime >= now);
          for (const p of tooNew)
            fail(
              migrationId,
              'groupMessage',
              p.m.oldId,
              'import_group_msg',
              10004,
              'invalid',
              'send time would not be before now after ordering',
            );
          counts.failed += tooNew.length;
          const sendable = chunk.filter((p) => p.sendTime < now);
          if (sendable.length === 0) continue;
          let outcomes: ItemOutcome[];
          try {
            outcomes = await im.importGroupMsg({
              GroupId: groupId,
              MsgList: sendable.map((p) => ({ From_Account: p.m.from, SendTime: p.sendTime, Random: p.random, MsgBody: p.m.body })),
            });
          } catch (err) {
            const refused = refusedCall(
              migrationId,
              'groupMessage',
              sendable.map((p) => p.m.oldId),
              err,
            );
            if (!refused) throw err;
            counts.failed += refused.failed;
            if (!refused.groupStop) continue;
            // Nothing more of the group goes in: the rest of this page is reported with it.
            const rest = pending.slice(i + perCall).map((p) => p.m.oldId);
            reportStopped(migrationId, 'groupMessage', rest, refused.groupStop);
            return { done: counts.done, failed: counts.failed + rest.length, next, groupStop: refused.groupStop };
          }
          const answered = finalBeforeTaken(outcomes.map((o, j) => ({ ...o, id: sendable[j].m.oldId })));
          const settled = settleOutcomes(migrationId, 'groupMessage', 'import_group_msg', answered);
          // A group retried whole (retry-failed) takes its reported messages here: they leave the report.
          for (const o of answered) if (o.ok) failures.clearFailure(migrationId, 'groupMessage', o.id);
          counts.done += settled.done;
          counts.failed += settled.failed;
          // The retry resumes after IM's newest message (get_group_info above): nothing taken is sent twice.
          if (settled.retry.length > 0) throw retryLater('import_group_msg', settled.retry);
          progress();
        }
        return { ...counts, next };
      }),
  };
}

/**
 * A group message IM answered retryably but followed by one it took can never go in (IM takes only
 * messages newer than the group's newest): it is final, and only those after the last taken retry.
 */
function finalBeforeTaken(outcomes: ItemOutcome[]): ItemOutcome[] {
  const lastTaken = outcomes.map((o) => o.ok).lastIndexOf(true);
  return outcomes.map((o, j) =>
    !o.ok && j < lastTaken && isRetryableClass(o.errorClass ?? 'invalid')
      ? {
          ...o,
          errorClass: 'invalid',
          reason: `${o.reason ?? 'retryable answer'}; IM took a later message of the group, so this one cannot go in`,
        }
      : o,
  );
}

/** A group-history cursor: the store's cursor plus the last send time assigned so far. */
export const GroupHistoryCursor = {
  parse(cursor: string | undefined): { after?: string; lastSendTime: number } {
    if (cursor === undefined) return { lastSendTime: 0 };
    const parsed = JSON.parse(cursor) as { a: string; t: number };
    return { after: parsed.a, lastSendTime: parsed.t };
  },
  format(c: { after: string; lastSendTime: number }): string {
    return JSON.stringify({ a: c.after, t: c.lastSendTime });
  },
};
