/**
 * The migration's orchestration on a real dev server, with in-memory activities that record what
 * they were asked to do: order of phases, pause/resume, cancel, continue-as-new, progress.
 * (End-to-end runs against the IM emulator and the staging store live in migration-import.test.ts.)
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { ImportActivities, StoreActivities } from '../activities/contracts';
import type { PageChain } from '../legacy/source';
import { resolveApiLimits } from '../im/apis';
import {
  emptyTotals,
  IMPORT_PHASES,
  pauseSignal,
  progressQuery,
  resumeSignal,
  cancelSignal,
  type MigrationOptions,
} from '../workflows/api';
import { migrationWorkflow } from '../workflows/migration';
import { workflowTaskQueue } from '../workflows/task-queues';
import { createImportWorkers } from '../workers/import-workers';
import { connectTestTemporal, TestTemporal, uniqueId } from './helpers/temporal';

const USERS = Array.from({ length: 12 }, (_, i) => `u${String(i).padStart(2, '0')}`);
const GROUPS = ['g1', 'g2', 'g3'];
const MESSAGES_PER_USER = 25;
const MESSAGES_PER_GROUP = 40;
/** Each user owns two conversations: messages 0–9 and 10–24 (so a user's pages form two chains). */
const conversationOf = (message: number) => (message < 10 ? 'a' : 'b');

/** Pages over a sorted id list with the last id as cursor. */
function pageIds(ids: string[], after: string | undefined, limit: number) {
  const start = after === undefined ? 0 : ids.indexOf(after) + 1;
  const page = ids.slice(start, start + limit);
  return { ids: page, next: start + limit < ids.length ? page[page.length - 1] : undefined };
}

function fakeActivities(
  log: string[],
  opts: { delayMs?: number; batchTooLargeAbove?: number; holdFirstPages?: number; runStates?: string[] } = {},
) {
  const pause = () => new Promise((r) => setTimeout(r, opts.delayMs ?? 0));
  let toHold = opts.holdFirstPages ?? 0;
  const store: StoreActivities = {
    async countTotals() {
      const totals = emptyTotals();
      totals.accounts = USERS.length;
      totals.profiles = USERS.length;
      totals.messages = USERS.length * MESSAGES_PER_USER;
      totals.groups = GROUPS.length;
      totals.groupMessages = GROUPS.length * MESSAGES_PER_GROUP;
      return totals;
    },
    async forgetImported() {},
    async planAccountBatches({ after, batchSize, batches }) {
      const starts: Array<string | null> = [];
      let cursor: string | undefined = after;
      for (let i = 0; i < batches; i++) {
        const page = pageIds(USERS, cursor, batchSize);
        if (page.ids.length === 0) break;
        starts.push(cursor ?? null);
        cursor = page.ids[page.ids.length - 1];
        if (page.next === undefined) return { starts, next: undefined };
      }
      return { starts, next: cursor };
    },
    async planOwnedPages({ items, after, pageSize, pages }) {
      // Read marks: one page (all of them, or those of conversations without messages).
      if (items === 'readMarks') return { chains: after === undefined ? [{ pages: [{ after: null, items: pageSize }] }] : [] };
      const first = after === undefined ? 0 : Number(after);
      const chains: PageChain[] = [];
      let end = first;
      for (; end < MESSAGES_PER_USER && chains.flatMap((c) => c.pages).length < pages; end += pageSize) {
        const page = { after: end === first ? (after ?? null) : String(end), items: pageSize };
        // Every conversation whose last message is on the page (a page may end one and begin the next).
        const onPage = Array.from({ length: Math.min(pageSize, MESSAGES_PER_USER - end) }, (_, k) => end + k);
        const ending = onPage.filter((m) => m === MESSAGES_PER_USER - 1 || conversationOf(m + 1) !== conversationOf(m)).map(conversationOf);
        // Conversation a has no read marks, b has one.
        const finishes = ending.length ? ending.map((peer) => ({ peer, readMarks: peer === 'a' ? 0 : 1 })) : undefined;
        if (end > first && conversationOf(end - 1) === conversationOf(end)) chains[chains.length - 1].pages.push({ ...page, finishes });
        else chains.push({ pages: [{ ...page, finishes }] });
      }
      return { chains, next: end < MESSAGES_PER_USER ? String(end) : undefined };
    },
    async listUserIds({ after, limit }) {
      return pageIds(USERS, after, limit);
    },
    async listGroupIds({ after, limit }) {
      return pageIds(GROUPS, after, limit);
    },
    async summarizeFailures() {
      return {};
    },
    async listFailures() {
      return { items: [] };
    },
    async markGroupHistoryImported({ groupId }) {
      log.push(`history-imported:${groupId}`);
    },
    async reportStoppedGroupItems() {
      return { done: 0, failed: 0 };
    },
    async recordRunState({ state }) {
      opts.runStates?.push(state);
    },
    async runState() {
      return 'running';
    },
  };
  const messagePage = (key: string, total: number, after: string | undefined, calls: number) => {
    const start = after === undefined ? 0 : Number(after);
    const done = Math.min(calls, total - start);
    log.push(`${key}:${start}+${done}`);
    return { done, failed: 0, next: start + done < total ? String(start + done) : undefined };
  };
  const im: ImportActivities = {
    async importAccountBatch({ after, limit }) {
      if (opts.batchTooLargeAbove !== undefined && limit > opts.batchTooLargeAbove) {
        throw ApplicationFailure.nonRetryable('too many accounts', 'batch-too-large');
      }
      const page = pageIds(USERS, after ?? undefined, limit);
      log.push(`accounts:${page.ids.length}`);
      return { done: page.ids.length, failed: 0 };
    },
    async importProfile({ userId }) {
      log.push(`profile:${userId}`);
      return { done: 1, failed: 0 };
    },
    async importFriendsPage() {
      return { done: 0, failed: 0 };
    },
    async importMessagesPage({ userId, after, calls }) {
      await pause();
      // As when a page leaves its queue after a pause its workflow has not heard of yet.
      if (toHold > 0 && toHold--) {
        log.push(`held:messages:${userId}:${after ?? 0}`);
        return { done: 0, failed: 0, next: after, held: true };
      }
      return messagePage(`messages:${userId}`, MESSAGES_PER_USER, after, calls);
    },
    async importReadMarksPage({ userId, scope }) {
      log.push(`readMarks:${userId}:${typeof scope === 'object' ? scope.peers.join(',') : (scope ?? 'all')}`);
      return { done: typeof scope === 'object' ? scope.peers.length : 1, failed: 0 };
    },
    async importGroup({ groupId }) {
      log.push(`group:${groupId}`);
      return { outcome: groupId === 'g3' ? 'unsupported' : 'created' };
    },
    async holdGroupHistory() {
      return { muted: false };
    },
    async releaseGroupHistory() {
      return { restored: false };
    },
    async importGroupMembersPage({ groupId }) {
      log.push(`members:${groupId}`);
      return { done: 0, failed: 0 };
    },
    async importGroupMessagesPage({ groupId, after, calls }) {
      await pause();
      return messagePage(`groupMessages:${groupId}`, MESSAGES_PER_GROUP, after, calls * 7);
    },
    async setUnreadCountsPage({ groupId }) {
      log.push(`unread:${groupId}`);
      return { done: 0, failed: 0 };
    },
    async retryFailedItems() {
      return { done: 0, failed: 0 };
    },
  };
  return { store, im };
}

describe('migration orchestration', () => {
  let temporal: TestTemporal;
  beforeAll(async () => {
    temporal = await connectTestTemporal();
  });
  afterAll(async () => temporal?.close());

  async function withWorkers<T>(
    prefix: string,
    log: string[],
    opts: Parameters<typeof fakeActivities>[1],
    body: () => Promise<T>,
  ): Promise<T> {
    const { store, im } = fakeActivities(log, opts);
    const workers = await createImportWorkers({
      connection: temporal.nativeConnection,
      namespace: temporal.namespace,
      taskQueuePrefix: prefix,
      limits: resolveApiLimits({}),
      importActivities: im,
      storeActivities: store,
      activityConcurrency: 10,
    });
    const running = workers.run();
    try {
      return await body();
    } finally {
      workers.shutdown();
      await running;
    }
  }

  const options = (prefix: string, over: Partial<MigrationOptions> = {}): MigrationOptions => ({
    migrationId: uniqueId('m'),
    taskQueuePrefix: prefix,
    phases: [...IMPORT_PHASES],
    userConcurrency: 4,
    groupConcurrency: 2,
    accountConcurrency: 2,
    accountListShape: false,
    batchSizes: { accounts: 5, friends: 1000, members: 20 },
    ...over,
  });

  test('runs accounts before any user or group, each user and group in IM order, and reports the unsupported group', async () => {
    const prefix = uniqueId('orch');
    const log: string[] = [];
    const result = await withWorkers(prefix, log, {}, async () => {
      const opts = options(prefix);
      return temporal.client.workflow.execute(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: opts.migrationId,
        args: [{ options: opts }],
      });
    });
    expect(result.state).toBe('completed');
    expect(result.phases.accounts.done).toBe(USERS.length);
    expect(result.phases.messages.done).toBe(USERS.length * MESSAGES_PER_USER);
    expect(result.phases.groupMessages.done).toBe(2 * MESSAGES_PER_GROUP);
    expect(result.unsupportedGroups).toBe(1);
    const lastAccount = log.map((l, i) => (l.startsWith('accounts:') ? i : -1)).reduce((a, b) => Math.max(a, b));
    const firstOther = log.findIndex((l) => !l.startsWith('accounts:'));
    expect(lastAccount).toBeLessThan(firstOther);
    for (const user of USERS) {
      // Message pages as logged (start+count): every message once, each conversation's pages in
      // order, all of them before the read marks; the profile once, beside them.
      const pages = log.flatMap((l, i) =>
        l.startsWith(`messages:${user}:`) ? [{ i, start: Number(l.split(':')[2].split('+')[0]), count: Number(l.split('+')[1]) }] : [],
      );
      expect(pages.reduce((n, p) => n + p.count, 0)).toBe(MESSAGES_PER_USER);
      for (const conversation of ['a', 'b']) {
        const starts = pages.filter((p) => conversationOf(p.start) === conversation).map((p) => p.start);
        expect(starts).toEqual([...starts].sort((x, y) => x - y));
      }
      expect(log.filter((l) => l === `profile:${user}`)).toHaveLength(1);
      // A conversation's read marks after its own last page, none for a conversation without marks;
      // the rest after every page.
      const readMarkPeers = log.filter((l) => l.startsWith(`readMarks:${user}:`)).map((l) => l.split(':')[2].split(','));
      expect(readMarkPeers.filter((peers) => peers.includes('a'))).toEqual([]);
      const lastPageOfB = pages.filter((p) => conversationOf(p.start) === 'b').pop()!;
      expect(log.findIndex((l) => l.startsWith(`readMarks:${user}:`) && l.split(':')[2].split(',').includes('b'))).toBeGreaterThan(
        lastPageOfB.i,
      );
      expect(log.indexOf(`readMarks:${user}:withoutMessages`)).toBeGreaterThan(pages[pages.length - 1].i);
    }
    expect(result.phases.readMarks.done).toBe(USERS.length * 2);
    for (const g of ['g1', 'g2']) {
      expect(log.indexOf(`members:${g}`)).toBeLessThan(log.indexOf(`groupMessages:${g}:0+28`));
      expect(log.indexOf(`groupMessages:${g}:28+12`)).toBeLessThan(log.indexOf(`unread:${g}`));
      // The import → sync handoff: the group's live events are released only after its history.
      expect(log.indexOf(`unread:${g}`)).toBeLessThan(log.indexOf(`history-imported:${g}`));
    }
    expect(log.filter((l) => l.startsWith('members:g3'))).toEqual([]);
  });

  test('a batch-too-large answer halves the account batch and still imports every account', async () => {
    const prefix = uniqueId('orch');
    const log: string[] = [];
    const result = await withWorkers(prefix, log, { batchTooLargeAbove: 2 }, async () => {
      const opts = options(prefix, { phases: ['accounts'] });
      return temporal.client.workflow.execute(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: opts.migrationId,
        args: [{ options: opts }],
      });
    });
    expect(result.phases.accounts.done).toBe(USERS.length);
    expect(log.every((l) => Number(l.split(':')[1]) <= 2)).toBe(true);
  });

  test('pause stops new work and resume finishes it; progress says paused meanwhile', async () => {
    const prefix = uniqueId('orch');
    const log: string[] = [];
    const runStates: string[] = [];
    await withWorkers(prefix, log, { delayMs: 50, runStates }, async () => {
      const opts = options(prefix, { phases: ['accounts', 'messages'] });
      const handle = await temporal.client.workflow.start(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: opts.migrationId,
        args: [{ options: opts }],
      });
      await waitFor(async () => (await handle.query(progressQuery)).phases.messages.done > 0);
      await handle.signal(pauseSignal);
      await waitFor(async () => (await handle.query(progressQuery)).state === 'paused');
      await new Promise((r) => setTimeout(r, 500));
      const frozen = log.length;
      await new Promise((r) => setTimeout(r, 1000));
      // Calls already in flight may finish (one per conversation chain, two per user); nothing new starts.
      expect(log.length - frozen).toBeLessThanOrEqual(2 * opts.userConcurrency);
      await handle.signal(resumeSignal);
      const result = await handle.result();
      expect(result.state).toBe('completed');
      expect(result.phases.messages.done).toBe(USERS.length * MESSAGES_PER_USER);
      // The store heard of the pause (so queued pages were held) and of the resume.
      expect(runStates).toEqual(['running', 'paused', 'running', 'completed']);
    });
  });

  test('a page held back by the store runs again, once', async () => {
    const prefix = uniqueId('orch');
    const log: string[] = [];
    const runStates: string[] = [];
    const result = await withWorkers(prefix, log, { holdFirstPages: 3, runStates }, async () => {
      const opts = options(prefix, { phases: ['accounts', 'messages'] });
      return temporal.client.workflow.execute(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: opts.migrationId,
        args: [{ options: opts }],
      });
    });
    expect(result.phases.messages.done).toBe(USERS.length * MESSAGES_PER_USER);
    const held = log.filter((l) => l.startsWith('held:'));
    expect(held).toHaveLength(3);
    for (const h of held) {
      // The same page (user and start) went through afterwards, exactly once.
      const [, , user, start] = h.split(':');
      expect(log.filter((l) => l.startsWith(`messages:${user}:${start}+`))).toHaveLength(1);
    }
    expect(runStates).toEqual(['running', 'completed']);
  });

  test('with a small history budget every run continues-as-new and the totals are still exact', async () => {
    const prefix = uniqueId('orch');
    const log: string[] = [];
    const budget = 30;
    await withWorkers(prefix, log, {}, async () => {
      const opts = options(prefix, { historyEventBudget: budget, userConcurrency: 3 });
      const handle = await temporal.client.workflow.start(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: opts.migrationId,
        args: [{ options: opts }],
      });
      const result = await handle.result();
      expect(result.phases.messages.done).toBe(USERS.length * MESSAGES_PER_USER);
      expect(result.phases.groupMessages.done).toBe(2 * MESSAGES_PER_GROUP);
      expect(result.phases.accounts.done).toBe(USERS.length);
      // A user's profile runs beside its messages: once, even in a child that continued-as-new.
      expect(result.phases.profiles.done).toBe(USERS.length);
      for (const user of USERS) expect(log.filter((l) => l === `profile:${user}`)).toHaveLength(1);
      const runs = [];
      for await (const wf of temporal.client.workflow.list({ query: `WorkflowId = '${opts.migrationId}'` })) runs.push(wf);
      expect(runs.length).toBeGreaterThan(1);
      for (const run of runs) expect(run.historyLength).toBeLessThan(budget + 100);
      const userRuns = [];
      for await (const wf of temporal.client.workflow.list({ query: `WorkflowId STARTS_WITH '${opts.migrationId}-user-'` }))
        userRuns.push(wf);
      expect(userRuns.length).toBeGreaterThan(USERS.length);
    });
  });

  test('cancel stops cleanly and the result says what was done', async () => {
    const prefix = uniqueId('orch');
    const log: string[] = [];
    await withWorkers(prefix, log, { delayMs: 100 }, async () => {
      const opts = options(prefix, { phases: ['accounts', 'messages'], userConcurrency: 2 });
      const handle = await temporal.client.workflow.start(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: opts.migrationId,
        args: [{ options: opts }],
      });
      await waitFor(async () => (await handle.query(progressQuery)).phases.messages.done > 0);
      await handle.signal(cancelSignal);
      const result = await handle.result();
      expect(result.state).toBe('cancelled');
      expect(result.phases.messages.done).toBeLessThan(USERS.length * MESSAGES_PER_USER);
      expect(result.phases.messages.done).toBeGreaterThan(0);
    });
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // The workflow may not have started its first task yet.
    }
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
