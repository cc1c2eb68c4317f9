/**
 * Incremental by default: the store records what IM accepted, so a later `start` (after loading a
 * newer export into the same store) writes only what IM does not hold yet, and `full` sends
 * everything again. Real dev server, IM emulator, real workers; what IM holds is verified.
 */
import { cpSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImEmulator } from '../emulator/im';
import type { ImApiName } from '../im/apis';
import { ImClient } from '../im/client';
import type { StagingStore } from '../legacy/store';
import type { MigrationResult } from '../workflows/api';
import { runVerification } from '../scripts/commands/verify';
import {
  closeImTestbed,
  loadSampleStore,
  runMigration,
  startImportWorkers,
  startImTestbed,
  testMigrationOptions,
} from './helpers/import-stack';
import { TestTemporal, uniqueId } from './helpers/temporal';

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
    ({ temporal, emulator, dir } = await startImTestbed(IM, 'tim-incremental-'));
    store = await loadSampleStore(dir, { seed: 7, users: 20, groups: 4, messages: 600, groupMessages: 200 });
  });
  afterAll(async () => {
    store?.close();
    await closeImTestbed({ temporal, emulator });
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
    const workers = await startImportWorkers(temporal, {
      taskQueuePrefix: prefix,
      store,
      im: new ImClient({ ...IM, baseUrl: emulator.baseUrl }),
      activityConcurrency: 20,
    });
    const migrate = async (full?: boolean): Promise<MigrationResult> => {
      const options = testMigrationOptions(prefix, {
        migrationId: uniqueId('inc-import'),
        userConcurrency: 10,
        accountConcurrency: 2,
        full,
      });
      const result = await runMigration(temporal, options);
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
      await workers.stop();
    }
  }, 240_000);
});
