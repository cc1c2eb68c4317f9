/**
 * The import's error-handling edges against the IM emulator, a staging store and a real dev server:
 * IM refusing a group as a whole, batches IM wants smaller, per-item answers a retry cures, a
 * GroupId someone else holds, and failure-report ids that contain '>'. The emulator's intercept
 * hook provokes IM's answers; what IM holds and what the failure report says are the checks.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pairItemId, splitPairItemId } from '../activities/item-ids';
import type { ApiInterceptor, ImEmulator } from '../emulator/im';
import { ApiError } from '../emulator/im/rest-api';
import { resolveApiLimits } from '../im/apis';
import { ImClient } from '../im/client';
import { StagingStore } from '../legacy/store';
import type { FailureRecord } from '../legacy/source';
import type { ImportPhase, MigrationResult } from '../workflows/api';
import { retryFailuresWorkflow } from '../workflows/retry-failures';
import { workflowTaskQueue } from '../workflows/task-queues';
import { closeImTestbed, runMigration, startImportWorkers, startImTestbed, testMigrationOptions } from './helpers/import-stack';
import { text } from './helpers/messages';
import { TestTemporal, uniqueId } from './helpers/temporal';

const IM = { sdkAppId: 1400000123, secretKey: 'test-secret-key', admin: 'administrator' };
const NOW = Math.floor(Date.now() / 1000);
const CREATED = NOW - 100_000;
const USERS = ['u1', 'u2', 'u3', 'u4', 'u5', 'stranger'];
const GROUP_PHASES: ImportPhase[] = ['accounts', 'groups', 'members', 'groupMessages', 'unreadCounts'];

/** A bundle of the accounts above and, per group id, a Work group of u1..u5 with `messages` messages and unread counts. */
function writeBundle(dir: string, groups: Array<{ id: string; messages: number }>, friendsOfU1 = 0): void {
  mkdirSync(dir, { recursive: true });
  const ndjson = (file: string, rows: object[]) =>
    writeFileSync(join(dir, file), rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
  ndjson(
    'accounts.ndjson',
    USERS.map((id) => ({ id })),
  );
  ndjson(
    'groups.ndjson',
    groups.map((g) => ({ id: g.id, type: 'Private', owner: 'u1', name: `group ${g.id}`, createTime: CREATED })),
  );
  ndjson(
    'friendships.ndjson',
    USERS.slice(1, 1 + friendsOfU1).map((friend) => ({ owner: 'u1', friend, addSource: 'Web' })),
  );
  ndjson('messages.ndjson', []);
  ndjson('read-marks.ndjson', []);
  ndjson(
    'group-members.ndjson',
    groups.flatMap((g) =>
      USERS.slice(0, 5).map((account, i) => ({
        group: g.id,
        account,
        role: i === 0 ? 'owner' : 'member',
        joinTime: CREATED + 10 + i,
        unread: i,
      })),
    ),
  );
  ndjson(
    'group-messages.ndjson',
    groups.flatMap((g) =>
      Array.from({ length: g.messages }, (_, i) => ({
        id: `${g.id}-m${i}`,
        group: g.id,
        from: USERS[i % 5],
        time: CREATED + 1000 + i * 60,
        body: text(`${g.id} ${i}`),
      })),
    ),
  );
}

describe('import error-handling edges', () => {
  let temporal: TestTemporal;
  let emulator: ImEmulator;
  let dir: string;

  beforeAll(async () => ({ temporal, emulator, dir } = await startImTestbed(IM, 'tim-edges-')));
  afterAll(() => closeImTestbed({ temporal, emulator }));
  beforeEach(() => {
    emulator.reset();
    emulator.setLimits(Object.fromEntries(Object.entries(resolveApiLimits({})).map(([api, l]) => [api, { maxItems: l.maxItems }])));
  });

  const im = () => new ImClient({ ...IM, baseUrl: emulator.baseUrl });

  /** A fresh store of `groups`, loaded; and a migration over it with the real workers. */
  async function migrate(groups: Array<{ id: string; messages: number }>, phases: ImportPhase[], friendsOfU1 = 0) {
    const bundle = join(dir, uniqueId('bundle'));
    writeBundle(bundle, groups, friendsOfU1);
    const store = new StagingStore(join(dir, `${uniqueId('staging')}.sqlite`));
    const summary = await store.load(bundle);
    expect(summary.errors).toBe(0);
    const prefix = uniqueId('edges');
    const workers = await startImportWorkers(temporal, { taskQueuePrefix: prefix, store, im: im() });
    const options = testMigrationOptions(prefix, { migrationId: uniqueId('edges'), phases, userConcurrency: 2, groupConcurrency: 2 });
    /** The migration, or the same one again under another id (a re-run). */
    const run = async (migrationId = options.migrationId): Promise<MigrationResult> =>
      runMigration(temporal, { ...options, migrationId }, { workflowExecutionTimeout: '90 seconds' });
    const failures = (entity?: string, migrationId = options.migrationId): FailureRecord[] =>
      store.failures(migrationId, { limit: 1000, entity }).items;
    const close = async () => {
      await workers.stop();
      store.close();
    };
    return { store, options, prefix, run, failures, close };
  }

  const groupOf = (groupId: string) => emulator.snapshot().groups[groupId];
  /** Calls of one API as the emulator received them (after its checks), bodies included. */
  function recordCalls(api: string, answer?: ApiInterceptor): Array<Record<string, unknown>> {
    const calls: Array<Record<string, unknown>> = [];
    emulator.intercept((a, body, handle) => {
      if (a !== api) return handle(body);
      calls.push(body);
      return answer ? answer(a, body, handle) : handle(body);
    });
    return calls;
  }

  test('a group IM dissolves mid-import: its other messages and unread counts are reported, the child ends and its live sync is released', async () => {
    const m = await migrate(
      [
        { id: 'g1', messages: 20 },
        { id: 'g2', messages: 5 },
      ],
      GROUP_PHASES,
    );
    try {
      let g1Calls = 0;
      emulator.intercept((api, body, handle) => {
        if (api === 'import_group_msg' && body.GroupId === 'g1' && ++g1Calls === 2)
          throw new ApiError(10010, 'group does not exist or has been dissolved');
        return handle(body);
      });
      const result = await m.run();
      expect(result.state).toBe('completed');
      expect(result.childFailures).toBe(0);
      // The first call's 7 went in; the other 13 and every unread count of g1 are reported with IM's code.
      expect(groupOf('g1').messages).toHaveLength(7);
      const messages = m.failures('groupMessage');
      expect(messages.map((f) => f.itemId).sort()).toEqual(Array.from({ length: 13 }, (_, i) => `g1-m${i + 7}`).sort());
      expect(new Set(messages.map((f) => f.code))).toEqual(new Set([10010]));
      expect(
        m
          .failures('unreadCount')
          .map((f) => f.itemId)
          .sort(),
      ).toEqual(['u2', 'u3', 'u4', 'u5'].map((u) => pairItemId('g1', u)));
      expect(result.phases.groupMessages).toMatchObject({ done: 12, failed: 13 });
      expect(m.store.groupHistoryPending('g1')).toBe(false);
      // The other group is untouched.
      expect(groupOf('g2').messages).toHaveLength(5);
      expect(groupOf('g2').members.find((x) => x.account === 'u5')?.unread).toBe(4);
    } finally {
      await m.close();
    }
  });

  test('an unread count IM failed to set is set by the retried page, after those that went in before it', async () => {
    const m = await migrate([{ id: 'g1', messages: 6 }], GROUP_PHASES);
    try {
      // u3's first set_unread_msg_num meets an internal error; u2's, before it on the page, went in.
      let refused = false;
      emulator.intercept((api, body, handle) => {
        if (api === 'set_unread_msg_num' && body.Member_Account === 'u3' && !refused) {
          refused = true;
          throw new ApiError(10002, 'internal error, try again');
        }
        return handle(body);
      });
      await m.run();
      expect(refused).toBe(true);
      const unread = Object.fromEntries(groupOf('g1').members.map((x) => [x.account, x.unread]));
      expect(unread).toMatchObject({ u2: 1, u3: 2, u4: 3, u5: 4 });
    } finally {
      await m.close();
    }
  });

  test('a member IM still calls too many when alone is reported; the group goes on', async () => {
    const m = await migrate([{ id: 'g1', messages: 3 }], GROUP_PHASES);
    try {
      emulator.intercept((api, body, handle) => {
        const list = (body.MemberList ?? []) as Array<{ Member_Account: string }>;
        if (api === 'import_group_member' && list.some((x) => x.Member_Account === 'u3'))
          throw new ApiError(10005, 'too many accounts in the request');
        return handle(body);
      });
      const result = await m.run();
      expect(result.childFailures).toBe(0);
      expect(
        groupOf('g1')
          .members.map((x) => x.account)
          .sort(),
      ).toEqual(['u1', 'u2', 'u4', 'u5']);
      expect(m.failures('member').map((f) => [f.itemId, f.code])).toEqual([[pairItemId('g1', 'u3'), 10005]]);
      expect(groupOf('g1').messages).toHaveLength(3);
      expect(m.store.groupHistoryPending('g1')).toBe(false);
    } finally {
      await m.close();
    }
  });

  test('import_group_msg refused for too many messages per call is halved, and every message goes in', async () => {
    emulator.setLimits({ import_group_msg: { maxItems: 3 } });
    const m = await migrate([{ id: 'g1', messages: 10 }], GROUP_PHASES);
    try {
      const result = await m.run();
      expect(result.childFailures).toBe(0);
      expect(groupOf('g1').messages.map((x) => x.body)).toEqual(Array.from({ length: 10 }, (_, i) => text(`g1 ${i}`)));
      expect(m.failures()).toEqual([]);
      expect(emulator.counters().rejectedForBatch.import_group_msg).toBeGreaterThan(0);
    } finally {
      await m.close();
    }
  });

  test('friend_import refused for too many friends is halved, and every friend goes in', async () => {
    emulator.setLimits({ friend_import: { maxItems: 2 } });
    const m = await migrate([], ['accounts', 'friends'], 5);
    try {
      const result = await m.run();
      expect(result.state).toBe('completed');
      expect(m.failures()).toEqual([]);
      expect(
        emulator
          .snapshot()
          .friends.u1.map((f) => f.to)
          .sort(),
      ).toEqual(['stranger', 'u2', 'u3', 'u4', 'u5']);
    } finally {
      await m.close();
    }
  });

  test('friends IM answers with a write conflict are sent again, alone, and go in', async () => {
    const m = await migrate([], ['accounts', 'friends'], 4);
    try {
      let first = true;
      const calls = recordCalls('friend_import', (_api, body, handle) => {
        if (!first) return handle(body);
        first = false;
        // u3's write conflicts (30008): IM does not add it and says so for that friend only.
        const items = body.AddFriendItem as Array<{ To_Account: string }>;
        const answer = handle({ ...body, AddFriendItem: items.filter((f) => f.To_Account !== 'u3') }) as { ResultItem: unknown[] };
        return {
          ...answer,
          ResultItem: [...answer.ResultItem, { To_Account: 'u3', ResultCode: 30008, ResultInfo: 'Err_SNS_FriendImport_Conflict' }],
          Fail_Account: ['u3'],
        };
      });
      const result = await m.run();
      expect(result.phases.friends).toMatchObject({ done: 4, failed: 0 });
      expect(m.failures()).toEqual([]);
      expect(
        emulator
          .snapshot()
          .friends.u1.map((f) => f.to)
          .sort(),
      ).toEqual(['u2', 'u3', 'u4', 'u5']);
      expect(calls.map((c) => (c.AddFriendItem as Array<{ To_Account: string }>).map((f) => f.To_Account))).toEqual([
        ['u2', 'u3', 'u4', 'u5'],
        ['u3'],
      ]);
    } finally {
      await m.close();
    }
  });

  test('group messages IM gives no result for are sent again, and each is in IM once', async () => {
    const m = await migrate([{ id: 'g1', messages: 14 }], GROUP_PHASES);
    try {
      let call = 0;
      recordCalls('import_group_msg', (_api, body, handle) => {
        call++;
        const list = body.MsgList as unknown[];
        const answer = (b: Record<string, unknown>) => handle(b) as { ImportMsgResult: unknown[] };
        // First call: all taken, the last result lost. Second: the last two neither taken nor answered.
        if (call === 1) {
          const a = answer(body);
          return { ...a, ImportMsgResult: a.ImportMsgResult.slice(0, -1) };
        }
        if (call === 2) return answer({ ...body, MsgList: list.slice(0, -2) });
        return answer(body);
      });
      const result = await m.run();
      expect(result.childFailures).toBe(0);
      expect(m.failures()).toEqual([]);
      expect(groupOf('g1').messages.map((x) => x.body)).toEqual(Array.from({ length: 14 }, (_, i) => text(`g1 ${i}`)));
      expect(result.phases.groupMessages).toMatchObject({ done: 14, failed: 0 });
    } finally {
      await m.close();
    }
  });

  test("a GroupId someone else's group holds is reported, and nothing is written into that group", async () => {
    const m = await migrate(
      [
        { id: 'g1', messages: 4 },
        { id: 'g2', messages: 2 },
      ],
      GROUP_PHASES,
    );
    try {
      await im().multiaccountImport({ Accounts: ['stranger'] });
      // Older than the bundle's group, so IM would take its members and history if they were sent.
      await im().call('import_group', {
        GroupId: 'g1',
        Type: 'Public',
        Owner_Account: 'stranger',
        Name: 'not ours',
        CreateTime: CREATED - 1000,
      });
      const result = await m.run();
      expect(result.childFailures).toBe(0);
      const g1 = groupOf('g1');
      expect(g1.name).toBe('not ours');
      expect(g1.members.map((x) => x.account)).toEqual(['stranger']);
      expect(g1.messages).toEqual([]);
      const [group] = m.failures('group');
      expect(group).toMatchObject({ itemId: 'g1', code: 10021, errorClass: 'already-exists' });
      expect(group.reason).toMatch(/another group/);
      // The owner comes in with the group; the other four members, its history and unread counts are reported.
      expect(m.failures('member')).toHaveLength(4);
      expect(m.failures('groupMessage')).toHaveLength(4);
      expect(m.failures('unreadCount')).toHaveLength(4);
      expect(m.store.groupHistoryPending('g1')).toBe(false);
      expect(groupOf('g2').messages).toHaveLength(2);
      // Our own earlier import of g2 is recognised on a re-run: nothing of it reported, nothing twice.
      const rerun = uniqueId('rerun');
      await m.run(rerun);
      expect(m.failures(undefined, rerun).filter((f) => !f.itemId.startsWith('g1'))).toEqual([]);
      expect(m.failures('group', rerun).map((f) => f.itemId)).toEqual(['g1']);
      expect(groupOf('g2').messages).toHaveLength(2);
      expect(groupOf('g2').members).toHaveLength(5);
    } finally {
      await m.close();
    }
  });

  test("a failure-report id whose group id contains '>' is retried in that group", async () => {
    expect(splitPairItemId(pairItemId('a>b%3E', 'c>d'))).toEqual(['a>b%3E', 'c>d']);
    const m = await migrate([{ id: 'team>a', messages: 2 }], GROUP_PHASES);
    try {
      // IM does not add u3 the first time (Result 0): it goes to the failure report.
      let refused = false;
      emulator.intercept((api, body, handle) => {
        if (api !== 'import_group_member' || refused) return handle(body);
        refused = true;
        const list = body.MemberList as Array<{ Member_Account: string }>;
        const answer = handle({ ...body, MemberList: list.filter((x) => x.Member_Account !== 'u3') }) as { MemberList: unknown[] };
        return { MemberList: [...answer.MemberList, { Member_Account: 'u3', Result: 0 }] };
      });
      await m.run();
      expect(m.failures('member').map((f) => f.itemId)).toEqual([pairItemId('team>a', 'u3')]);
      const retried = await temporal.client.workflow.execute(retryFailuresWorkflow, {
        taskQueue: workflowTaskQueue(m.prefix),
        workflowId: uniqueId('retry'),
        args: [{ migrationId: m.options.migrationId, taskQueuePrefix: m.prefix, batchSizes: m.options.batchSizes }],
      });
      expect(retried.remaining).toEqual({});
      expect(
        groupOf('team>a')
          .members.map((x) => x.account)
          .sort(),
      ).toEqual(['u1', 'u2', 'u3', 'u4', 'u5']);
    } finally {
      await m.close();
    }
  });
});
