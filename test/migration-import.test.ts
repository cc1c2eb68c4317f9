/**
 * The historical import end to end: a real dev server, the IM emulator, a sample bundle in a
 * staging store, the real activities and workers. What IM holds is checked through IM's read APIs.
 */
import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startImEmulator, type ImEmulator } from '../emulator/im';
import { resolveApiLimits } from '../im/apis';
import { ImClient } from '../im/client';
import { writeSampleBundle } from '../legacy/sample';
import { StagingStore } from '../legacy/store';
import { IMPORT_PHASES, pauseSignal, progressQuery, resumeSignal, type MigrationOptions } from '../workflows/api';
import { migrationWorkflow } from '../workflows/migration';
import { retryFailuresWorkflow } from '../workflows/retry-failures';
import { workflowTaskQueue } from '../workflows/task-queues';
import { formatVerifyTable, type VerifyResult } from '../workflows/verify-api';
import { cutoverReport } from '../scripts/commands/cutover';
import { printDifferences, runVerification, verificationStatus, type VerifyRequest } from '../scripts/commands/verify';
import { createImportStack, type ImportWorkers } from '../workers/import-workers';
import { connectTestTemporal, TestTemporal, uniqueId } from './helpers/temporal';

const IM = { sdkAppId: 1400000123, secretKey: 'test-secret-key', admin: 'administrator' };

/** Read state of a conversation that holds no message (its history expired in the old system, say): both sides of one such pair. */
function addReadMarksWithoutMessages(bundle: string): void {
  const lines = (file: string) =>
    readFileSync(join(bundle, file), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, string>);
  const talked = new Set(lines('messages.ndjson').flatMap((m) => [`${m.from}|${m.to}`, `${m.to}|${m.from}`]));
  const ids = lines('accounts.ndjson')
    .map((a) => a.id)
    .filter((id) => /^u\d+$/.test(id));
  const [a, b] = ids.flatMap((x) => ids.filter((y) => x < y && !talked.has(`${x}|${y}`)).map((y) => [x, y]))[0];
  appendFileSync(
    join(bundle, 'read-marks.ndjson'),
    [JSON.stringify({ reader: a, peer: b, readUpTo: 1700000000 }), JSON.stringify({ reader: b, peer: a, readUpTo: 1700000000 })].join(
      '\n',
    ) + '\n',
  );
}

describe('historical import against the IM emulator', () => {
  let temporal: TestTemporal;
  let emulator: ImEmulator;
  let store: StagingStore;
  let dir: string;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    emulator = await startImEmulator({ ...IM, faults: { latencyMs: 0 } });
    dir = mkdtempSync(join(tmpdir(), 'tim-import-'));
    await writeSampleBundle(join(dir, 'bundle'), { seed: 42, users: 30, groups: 6, messages: 600, groupMessages: 400 });
    addReadMarksWithoutMessages(join(dir, 'bundle'));
    store = new StagingStore(join(dir, 'staging.sqlite'));
    const summary = await store.load(join(dir, 'bundle'));
    expect(summary.errors).toBe(0);
  });
  afterAll(async () => {
    store?.close();
    await emulator?.close();
    await temporal?.close();
  });

  const im = (timeoutMs = 10_000) => new ImClient({ ...IM, baseUrl: emulator.baseUrl, timeoutMs });

  async function startWorkers(
    prefix: string,
    timeoutMs?: number,
    settings: Record<string, string> = {},
  ): Promise<{ workers: ImportWorkers; running: Promise<void> }> {
    const workers = await createImportStack({
      connection: temporal.nativeConnection,
      namespace: temporal.namespace,
      taskQueuePrefix: prefix,
      store,
      im: im(timeoutMs),
      limits: resolveApiLimits(settings),
      accountListShape: false,
      activityConcurrency: 20,
    });
    return { workers, running: workers.run() };
  }

  /** Verifies through the verification workflow (IM's read APIs, on their rate-limited queues). */
  async function verify(prefix: string, migrationId: string, request: Partial<VerifyRequest> = {}): Promise<VerifyResult> {
    const result = await runVerification(temporal.client, prefix, { migrationId, ...request });
    if (!result.passed) {
      console.log(formatVerifyTable(result.tally));
      printDifferences(join(dir, 'staging.sqlite'), result.verifyId, (line) => console.log(line));
    }
    return result;
  }

  const options = (prefix: string): MigrationOptions => ({
    migrationId: uniqueId('import'),
    taskQueuePrefix: prefix,
    phases: [...IMPORT_PHASES],
    userConcurrency: 10,
    groupConcurrency: 6,
    accountConcurrency: 2,
    accountListShape: false,
    batchSizes: { accounts: 100, friends: 1000, members: 20 },
    // Each test starts from an empty IM (emulator.reset()) over the same store: everything is sent.
    full: true,
  });

  const totalCalls = () => Object.values(emulator.counters().calls).reduce((a, b) => a + (b ?? 0), 0);

  /** Every c2c message in IM once: no duplicate (MsgSeq, MsgRandom) in any conversation. */
  function duplicatesInIm(): number {
    const snap = emulator.snapshot();
    let dups = 0;
    for (const list of Object.values(snap.conversations)) {
      const seen = new Set<string>();
      for (const m of list) {
        const key = `${m.seq}|${m.random}|${m.time}`;
        if (seen.has(key)) dups++;
        seen.add(key);
      }
    }
    for (const g of Object.values(snap.groups)) {
      const seen = new Set<number>();
      for (const m of g.messages) {
        if (seen.has(m.random)) dups++;
        seen.add(m.random);
      }
    }
    return dups;
  }

  test('imports every kind of history, IM holds exactly what the store holds, and a re-run writes no duplicates', async () => {
    emulator.reset();
    const prefix = uniqueId('imp');
    const { workers, running } = await startWorkers(prefix);
    try {
      const opts = options(prefix);
      const result = await temporal.client.workflow.execute(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: opts.migrationId,
        args: [{ options: opts }],
      });
      expect(result.state).toBe('completed');
      expect(result.unsupportedGroups).toBe(1);
      const verified = await verify(prefix, opts.migrationId);
      expect(verified.passed).toBe(true);
      // Every kind is compared, none vacuously: accounts IM accepted are verified too.
      expect(verified.tally.accounts?.matched).toBe(store.totals().accounts);
      expect(verified.tally.profiles?.matched).toBeGreaterThan(0);
      for (const kind of ['friends', 'members', 'unreadCounts'] as const) expect(verified.tally[kind]?.matched).toBeGreaterThan(0);
      expect(verified.tally.messages?.matched).toBe(600);
      expect(verified.tally.groupMessages?.matched).toBe(store.totals().groupMessages);
      expect(result.phases.readMarks.done).toBe(store.totals().readMarks);
      // Each read mark was sent and accepted once (a call refused for rate is sent again).
      const counters = emulator.counters();
      expect((counters.calls.admin_set_msg_read ?? 0) - (counters.rejectedForRate.admin_set_msg_read ?? 0)).toBe(store.totals().readMarks);
      const callsBefore = emulator.counters().calls;

      // The same migration again, under a new id: nothing new lands in IM.
      const again = options(prefix);
      const second = await temporal.client.workflow.execute(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: again.migrationId,
        args: [{ options: again }],
      });
      expect(second.state).toBe('completed');
      expect(duplicatesInIm()).toBe(0);
      // Verified again over several runs of its workflow (continue-as-new), with the same result.
      const continued = await verify(prefix, again.migrationId, { historyEventBudget: 60 });
      expect(continued.passed).toBe(true);
      expect(continued.runs).toBeGreaterThan(1);
      expect(continued.tally).toEqual(verified.tally);
      expect(emulator.counters().calls.import_group_msg ?? 0).toBe(callsBefore.import_group_msg ?? 0);
    } finally {
      workers.shutdown();
      await running;
    }
  });

  test('verify finds each difference by item: a missing, a changed, a reordered and an extra message, a member gone; a sample is reproducible', async () => {
    emulator.reset();
    const prefix = uniqueId('imp');
    const { workers, running } = await startWorkers(prefix);
    try {
      const opts = options(prefix);
      await temporal.client.workflow.execute(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: opts.migrationId,
        args: [{ options: opts }],
      });
      await expect(runVerification(temporal.client, prefix, { migrationId: uniqueId('never-ran') })).rejects.toThrow(
        /never ran against this store/,
      );
      const goNoGo = async () => cutoverReport(temporal.client, store, opts.migrationId);
      const unverified = await goNoGo();
      expect(unverified.go).toBe(false);
      expect(unverified.checks.filter((c) => !c.ok).map((c) => c.what)).toEqual([expect.stringMatching(/^not verified/)]);
      const clean = await verify(prefix, opts.migrationId);
      expect(clean.passed).toBe(true);
      // The AVChatRoom in the failure report is no reason to wait: IM cannot take it.
      expect((await goNoGo()).go).toBe(true);
      // `status` tells a verification from a migration by its workflow type.
      expect(await verificationStatus(temporal.client, clean.verifyId)).toMatch(/: completed, IM equals the store/);
      expect(await verificationStatus(temporal.client, opts.migrationId)).toBeUndefined();

      // Tamper with what IM holds, through the emulator's state and an App 2.0 user.
      const snap = emulator.snapshot();
      const conversation = Object.values(snap.conversations).find(
        (list) => list.length >= 4 && new Set(list.map((m) => m.time)).size >= 3,
      )!;
      const removed = conversation.splice(0, 1)[0];
      conversation[0].body = [{ MsgType: 'TIMTextElem', MsgContent: { Text: 'edited in IM' } }];
      const [early, late] = [conversation[1], conversation[conversation.length - 1]];
      [early.time, late.time] = [late.time, early.time];
      const group = Object.values(snap.groups).find((g) => g.type !== 'AVChatRoom' && g.members.length > 2)!;
      const leaver = group.members.find((m) => m.role === 'Member')!.account;
      await emulator.asUser(leaver).quitGroup(group.groupId);
      await emulator
        .asUser(group.members.find((m) => m.account !== leaver)!.account)
        .sendGroupMsg(group.groupId, [{ MsgType: 'TIMTextElem', MsgContent: { Text: 'not in the store' } }]);

      const result = await verify(prefix, opts.migrationId);
      expect(result.passed).toBe(false);
      expect((await goNoGo()).checks.find((c) => !c.ok)?.what).toMatch(/found differences: tim-migrate verify --report/);
      const lines: string[] = [];
      printDifferences(join(dir, 'staging.sqlite'), result.verifyId, (line) => lines.push(line));
      const has = (kind: string, problem: string) => lines.filter((l) => l.startsWith(`${kind}\t`) && l.split('\t')[3] === problem);
      expect(has('messages', 'missing')).toHaveLength(1);
      expect(has('messages', 'changed').some((l) => l.includes('body differs'))).toBe(true);
      expect(has('messages', 'changed').filter((l) => l.includes('time ')).length).toBe(2);
      expect(has('messages', 'out-of-order').length).toBeGreaterThan(0);
      expect(has('members', 'missing').map((l) => l.split('\t')[2])).toEqual([leaver]);
      expect(has('groupMessages', 'extra')).toHaveLength(1);
      expect(removed).toBeDefined();

      // A sample checks fewer users and groups, the same ones for the same seed.
      const sample = { share: 0.3, seed: 7 };
      const first = await verify(prefix, opts.migrationId, { sample });
      const second = await verify(prefix, opts.migrationId, { sample });
      expect(first.usersChecked).toBeGreaterThan(0);
      expect(first.usersChecked).toBeLessThan(30);
      expect([second.usersChecked, second.groupsChecked, second.tally]).toEqual([first.usersChecked, first.groupsChecked, first.tally]);
    } finally {
      workers.shutdown();
      await running;
    }
  });

  test('with 5% retryable errors and 2% lost answers every message is in IM exactly once', async () => {
    emulator.reset();
    emulator.setFaults({ retryableErrorRate: 0.05, timeoutRate: 0.02 });
    const prefix = uniqueId('imp');
    // A short client timeout so lost answers are retried quickly.
    const { workers, running } = await startWorkers(prefix, 3500);
    try {
      const opts = options(prefix);
      const result = await temporal.client.workflow.execute(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: opts.migrationId,
        args: [{ options: opts }],
      });
      expect(result.state).toBe('completed');
      expect(emulator.counters().faultsInjected.retryable).toBeGreaterThan(0);
      expect(emulator.counters().faultsInjected.timeout).toBeGreaterThan(0);
      emulator.setFaults({ retryableErrorRate: 0, timeoutRate: 0 });
      expect((await verify(prefix, opts.migrationId)).passed).toBe(true);
      expect(duplicatesInIm()).toBe(0);
    } finally {
      emulator.setFaults({ retryableErrorRate: 0, timeoutRate: 0 });
      workers.shutdown();
      await running;
    }
  }, 300_000);

  test('pause then resume gives the same exact result, and nothing new starts while paused', async () => {
    emulator.reset();
    emulator.setFaults({ latencyMs: 5 });
    const prefix = uniqueId('imp');
    // A slow importmsg queue keeps many pages waiting in it when the pause comes: they must not call IM either.
    const { workers, running } = await startWorkers(prefix, undefined, { TIM_RATE_IMPORTMSG: '50' });
    try {
      const opts = options(prefix);
      const handle = await temporal.client.workflow.start(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: opts.migrationId,
        args: [{ options: opts }],
      });
      while ((emulator.counters().calls.importmsg ?? 0) < 50) await new Promise((r) => setTimeout(r, 20));
      await handle.signal(pauseSignal);
      while ((await handle.query(progressQuery)).state !== 'paused') await new Promise((r) => setTimeout(r, 20));
      // Calls already in flight finish (at most one page per running activity), then IM sees nothing.
      await new Promise((r) => setTimeout(r, 1500));
      const settled = totalCalls();
      await new Promise((r) => setTimeout(r, 1500));
      expect(totalCalls()).toBe(settled);
      await handle.signal(resumeSignal);
      const result = await handle.result();
      expect(result.state).toBe('completed');
      emulator.setFaults({ latencyMs: 0 });
      expect((await verify(prefix, opts.migrationId)).passed).toBe(true);
      expect(duplicatesInIm()).toBe(0);
    } finally {
      emulator.setFaults({ latencyMs: 0 });
      workers.shutdown();
      await running;
    }
  });

  test('retry-failed re-imports only the failed items, and they leave the failure report', async () => {
    emulator.reset();
    const prefix = uniqueId('imp');
    const { workers, running } = await startWorkers(prefix);
    try {
      // Messages before their accounts: every one is refused (account not imported) and reported.
      const early = { ...options(prefix), phases: ['messages' as const] };
      const first = await temporal.client.workflow.execute(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: early.migrationId,
        args: [{ options: early }],
      });
      expect(first.phases.messages.failed).toBe(600);
      expect(store.countByEntity(early.migrationId)).toEqual({ message: 600 });
      const accounts = { ...options(prefix), phases: ['accounts' as const] };
      await temporal.client.workflow.execute(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: accounts.migrationId,
        args: [{ options: accounts }],
      });
      const before = emulator.counters();

      const retry = await temporal.client.workflow.execute(retryFailuresWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: uniqueId('retry'),
        args: [{ migrationId: early.migrationId, taskQueuePrefix: prefix, batchSizes: early.batchSizes }],
      });
      expect(retry).toMatchObject({ done: 600, failed: 0, remaining: {} });
      // Each failed message is sent exactly once more, within IM's rate limit.
      const after = emulator.counters();
      expect((after.calls.importmsg ?? 0) - (before.calls.importmsg ?? 0)).toBe(600);
      expect((after.rejectedForRate.importmsg ?? 0) - (before.rejectedForRate.importmsg ?? 0)).toBe(0);
      expect(Object.values(emulator.snapshot().conversations).reduce((n, list) => n + list.length, 0)).toBe(600);
      expect(duplicatesInIm()).toBe(0);
    } finally {
      workers.shutdown();
      await running;
    }
  });

  test('a worker killed mid-import and replaced: the run completes with every message once', async () => {
    emulator.reset();
    emulator.setFaults({ latencyMs: 5 });
    const prefix = uniqueId('imp');
    const first = await startWorkers(prefix);
    const opts = options(prefix);
    const handle = await temporal.client.workflow.start(migrationWorkflow, {
      taskQueue: workflowTaskQueue(prefix),
      workflowId: opts.migrationId,
      args: [{ options: opts }],
    });
    // Let it get going, then stop this worker abruptly-ish: activities in flight are abandoned.
    while ((emulator.counters().calls.importmsg ?? 0) < 100) await new Promise((r) => setTimeout(r, 50));
    first.workers.shutdown();
    await first.running;
    const second = await startWorkers(prefix);
    try {
      const result = await handle.result();
      expect(result.state).toBe('completed');
      emulator.setFaults({ latencyMs: 0 });
      expect((await verify(prefix, opts.migrationId)).passed).toBe(true);
      expect(duplicatesInIm()).toBe(0);
    } finally {
      emulator.setFaults({ latencyMs: 0 });
      second.workers.shutdown();
      await second.running;
    }
  });
});
