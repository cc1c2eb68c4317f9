/**
 * Incremental by default: the store records what IM accepted, so a later `start` (after loading a
 * newer export into the same store) writes only what IM does not hold yet, and `full` sends
 * everything again. Real dev server, IM emulator, real workers; what IM holds is verified.
 */
import { cpSync, mkdtempSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startImEmulator, type ImEmulator } from '../emulator/im';
import { resolveApiLimits, type ImApiName } from '../im/apis';
import { ImClient } from '../im/client';
import { writeSampleBundle } from '../legacy/sample';
import { StagingStore } from '../legacy/store';
import { IMPORT_PHASES, type MigrationOptions, type MigrationResult } from '../workflows/api';
import { migrationWorkflow } from '../workflows/migration';
import { workflowTaskQueue } from '../workflows/task-queues';
import { runVerification } from '../scripts/commands/verify';
import { createImportStack } from '../workers/import-workers';
import { connectTestTemporal, TestTemporal, uniqueId } from './helpers/temporal';

const IM = { sdkAppId: 1400000321, secretKey: 'incremental-test-key', admin: 'administrator' };
/** Every API the import writes with. */
const WRITE_APIS: ImApiName[] = [
  'multiaccount_import',
  'portrait_set',
  'friend_import',
  'importmsg',
  'admin_set_msg_read',
  'import_group',
  'import_group_member',
  'import_group_msg',
  'set_unread_msg_num',
];
const NEW_MESSAGES = 6;

type Line = Record<string, unknown>;
const readLines = (file: string): Line[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

describe('incremental import', () => {
  let temporal: TestTemporal;
  let emulator: ImEmulator;
  let store: StagingStore;
  let dir: string;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    emulator = await startImEmulator({ ...IM, faults: { latencyMs: 0 } });
    dir = mkdtempSync(join(tmpdir(), 'tim-incremental-'));
    await writeSampleBundle(join(dir, 'bundle'), { seed: 7, users: 20, groups: 4, messages: 600, groupMessages: 200 });
    store = new StagingStore(join(dir, 'staging.sqlite'));
    expect((await store.load(join(dir, 'bundle'))).errors).toBe(0);
  });
  afterAll(async () => {
    store?.close();
    await emulator?.close();
    await temporal?.close();
  });

  /**
   * The newer export: 1 % more messages, each in a second that already holds messages of its
   * conversation (after them, as a newer export lists them), and one account's nick changed.
   */
  function writeNewerExport(): void {
    const newer = join(dir, 'bundle-newer');
    cpSync(join(dir, 'bundle'), newer, { recursive: true });
    const messages = readLines(join(newer, 'messages.ndjson'));
    const added = messages
      .slice(0, NEW_MESSAGES)
      .map((m, i) => ({ ...m, id: `c2c-newer-${i}`, body: [{ MsgType: 'TIMTextElem', MsgContent: { Text: `newer ${i}` } }] }));
    appendFileSync(join(newer, 'messages.ndjson'), added.map((m) => JSON.stringify(m)).join('\n') + '\n');
    const accounts = readLines(join(newer, 'accounts.ndjson'));
    accounts[3] = { ...accounts[3], nick: 'changed in the newer export' };
    writeFileSync(join(newer, 'accounts.ndjson'), accounts.map((a) => JSON.stringify(a)).join('\n') + '\n');
  }

  const writeCalls = (): Record<string, number> => {
    const { calls, rejectedForRate } = emulator.counters();
    return Object.fromEntries(WRITE_APIS.map((api) => [api, (calls[api] ?? 0) - (rejectedForRate[api] ?? 0)]));
  };
  const delta = (before: Record<string, number>) => {
    const after = writeCalls();
    return Object.fromEntries(WRITE_APIS.map((api) => [api, after[api] - before[api]]).filter(([, n]) => n !== 0));
  };

  function duplicatesInIm(): number {
    let dups = 0;
    for (const list of Object.values(emulator.snapshot().conversations)) {
      const keys = list.map((m) => `${m.seq}|${m.random}|${m.time}`);
      dups += keys.length - new Set(keys).size;
    }
    return dups;
  }

  test('a later start writes only what IM lacks, totals count what is left, and full sends everything again once', async () => {
    const prefix = uniqueId('inc');
    const workers = await createImportStack({
      connection: temporal.nativeConnection,
      namespace: temporal.namespace,
      taskQueuePrefix: prefix,
      store,
      im: new ImClient({ ...IM, baseUrl: emulator.baseUrl }),
      limits: resolveApiLimits({}),
      accountListShape: false,
      activityConcurrency: 20,
    });
    const running = workers.run();
    const migrate = async (full?: boolean): Promise<MigrationResult> => {
      const options: MigrationOptions = {
        migrationId: uniqueId('inc-import'),
        taskQueuePrefix: prefix,
        phases: [...IMPORT_PHASES],
        userConcurrency: 10,
        groupConcurrency: 4,
        accountConcurrency: 2,
        accountListShape: false,
        batchSizes: { accounts: 100, friends: 1000, members: 20 },
        full,
      };
      const result = await temporal.client.workflow.execute(migrationWorkflow, {
        taskQueue: workflowTaskQueue(prefix),
        workflowId: options.migrationId,
        args: [{ options }],
      });
      expect(result.state).toBe('completed');
      expect((await runVerification(temporal.client, prefix, { migrationId: options.migrationId })).passed).toBe(true);
      return result;
    };
    try {
      await migrate();
      const firstRun = writeCalls();
      expect(firstRun.importmsg).toBe(600);

      // A newer export into the same store, then start again: only the delta goes to IM.
      writeNewerExport();
      expect((await store.load(join(dir, 'bundle-newer'))).errors).toBe(0);
      expect(store.pendingTotals()).toMatchObject({
        accounts: 1,
        profiles: 1,
        messages: NEW_MESSAGES,
        friends: 0,
        readMarks: 0,
        groups: 0,
        members: 0,
        unreadCounts: 0,
      });
      const second = await migrate();
      // The changed profile is sent again (portrait_set overwrites; its account too, which carries the nick
      // when accounts are imported with AccountList), the new messages once each, nothing else.
      expect(delta(firstRun)).toEqual({ multiaccount_import: 1, portrait_set: 1, importmsg: NEW_MESSAGES });
      expect(second.phases.messages).toMatchObject({ total: NEW_MESSAGES, done: NEW_MESSAGES, failed: 0 });
      expect(second.phases.profiles).toMatchObject({ total: 1, done: 1 });
      expect(second.phases.friends.total).toBe(0);
      expect(duplicatesInIm()).toBe(0);

      // full: everything again; IM de-duplicates, so it still holds each message once.
      const beforeFull = writeCalls();
      const full = await migrate(true);
      expect(delta(beforeFull).importmsg).toBe(600 + NEW_MESSAGES);
      expect(full.phases.messages.total).toBe(600 + NEW_MESSAGES);
      expect(duplicatesInIm()).toBe(0);
      expect(Object.values(emulator.snapshot().conversations).reduce((n, list) => n + list.length, 0)).toBe(600 + NEW_MESSAGES);
    } finally {
      workers.shutdown();
      await running;
    }
  }, 240_000);
});
