/** The store-only activities: totals, plans, id lists, run states and the failure report; no IM calls. */
import type { FailureSink, LegacySource, RunStates } from '../../legacy/source';
import type { ImportPhase, PhaseTotals } from '../../workflows/api';
import { emptyTotals } from '../../workflows/api';
import type { StoreActivities } from '../contracts';
import { pairItemId } from '../item-ids';
import type { Entity } from './context';
import { GroupHistoryCursor } from './group-history';

const TOTAL_OF: Record<ImportPhase, keyof ReturnType<LegacySource['totals']> | undefined> = {
  accounts: 'accounts',
  profiles: 'profiles',
  friends: 'friends',
  messages: 'messages',
  readMarks: 'readMarks',
  groups: 'groups',
  members: 'members',
  groupMessages: 'groupMessages',
  unreadCounts: 'unreadCounts',
};

export function createStoreActivities(deps: { source: LegacySource; failures: FailureSink; runStates: RunStates }): StoreActivities {
  const { source, failures, runStates } = deps;
  return {
    async countTotals({ phases }): Promise<PhaseTotals> {
      // What is left: a later run writes only what IM does not hold yet (start --full forgot it all).
      const totals = source.pendingTotals();
      const result = emptyTotals();
      for (const phase of phases) {
        const key = TOTAL_OF[phase];
        if (key) result[phase] = totals[key];
      }
      return result;
    },
    async forgetImported() {
      source.forgetImported();
    },
    async planAccountBatches({ after, batchSize, batches }) {
      // The batches of importAccountBatch, which takes only the accounts IM has not accepted.
      return planPageStarts((page) => source.pendingAccountIds(page), after, batchSize, batches);
    },
    async planOwnedPages({ userId, items, after, pageSize, pages, scope }) {
      return source.planOwnedPages(userId, items, { after, pageSize, pages, scope });
    },
    async listUserIds({ after, limit }) {
      const page = source.accountIds({ after, limit });
      return { ids: page.items, next: page.next };
    },
    async listGroupIds({ after, limit }) {
      const page = source.groupIds({ after, limit });
      return { ids: page.items, next: page.next };
    },
    async summarizeFailures({ migrationId }) {
      return failures.countByEntity(migrationId);
    },
    async recordRunState({ migrationId, state }) {
      runStates.setRunState(migrationId, state);
    },
    async runState({ migrationId }) {
      return runStates.runState(migrationId);
    },
    async markGroupHistoryImported({ groupId }) {
      source.markGroupHistoryImported(groupId);
    },
    async reportStoppedGroupItems({ migrationId, groupId, stage, after, limit, stop }) {
      const report = (entity: Entity, itemIds: string[]) => {
        for (const id of itemIds)
          failures.record({
            migrationId,
            entity,
            itemId: id,
            api: stop.api,
            code: stop.code,
            errorClass: stop.errorClass,
            reason: stop.reason,
          });
        return { done: 0, failed: itemIds.length };
      };
      switch (stage) {
        case 'members': {
          const page = source.groupMembers(groupId, { after, limit });
          return {
            ...report(
              'member',
              page.items.map((m) => pairItemId(groupId, m.userId)),
            ),
            next: page.next,
          };
        }
        case 'messages': {
          // The cursor of importGroupMessagesPage, whose stage this takes over.
          const cursor = GroupHistoryCursor.parse(after);
          const page = source.groupMessages(groupId, { after: cursor.after, limit });
          const next =
            page.next === undefined ? undefined : GroupHistoryCursor.format({ after: page.next, lastSendTime: cursor.lastSendTime });
          return {
            ...report(
              'groupMessage',
              page.items.map((m) => m.oldId),
            ),
            next,
          };
        }
        case 'unread': {
          const page = source.groupUnreadCounts(groupId, { after, limit });
          return {
            ...report(
              'unreadCount',
              page.items.map((m) => pairItemId(groupId, m.userId)),
            ),
            next: page.next,
          };
        }
      }
    },
    async listFailures({ migrationId, after, limit }) {
      const page = failures.failures(migrationId, { after, limit });
      return { items: page.items.map((f) => ({ entity: f.entity, itemId: f.itemId })), next: page.next };
    },
  };
}

/** Start cursors (null: from the start) of the next `pages` keyset pages of `pageSize`, so they can run side by side. */
export function planPageStarts(
  pageOf: (page: { after?: string; limit: number }) => { items: unknown[]; next?: string },
  after: string | undefined,
  pageSize: number,
  pages: number,
): { starts: Array<string | null>; next?: string } {
  const starts: Array<string | null> = [];
  let cursor = after;
  for (let i = 0; i < pages; i++) {
    const page = pageOf({ after: cursor, limit: pageSize });
    if (page.items.length === 0) return { starts, next: undefined };
    starts.push(cursor ?? null);
    if (page.next === undefined) return { starts, next: undefined };
    cursor = page.next;
  }
  return { starts, next: cursor };
}
