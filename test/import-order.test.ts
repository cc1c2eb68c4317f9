/**
 * Order and identity of imported messages: messages of one second come out of IM in the bundle's
 * order, a re-run or a newer export's load gives every message the same identity again (IM drops
 * the repeat), and no two messages of a group share a Random. Real dev server, IM emulator, staging
 * store and workers; what IM holds is read through its read APIs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImEmulator } from '../emulator/im';
import { ImClient } from '../im/client';
import { messageRandom } from '../legacy/id-mapping';
import { StagingStore } from '../legacy/store';
import type { ImportPhase } from '../workflows/api';
import { closeImTestbed, runMigration, startImportWorkers, startImTestbed, testMigrationOptions } from './helpers/import-stack';
import { text } from './helpers/messages';
import { TestTemporal, uniqueId } from './helpers/temporal';

const IM = { sdkAppId: 1400000123, secretKey: 'test-secret-key', admin: 'administrator' };
const T = 1700000000;
const textOf = (body: unknown) => (body as Array<{ MsgContent: { Text: string } }>)[0].MsgContent.Text;

const accounts = [{ id: 'alice' }, { id: 'bob' }];
/** A message per entry, `text` its body; alternating senders. */
const c2c = (entries: Array<[id: string, time: number, text: string]>) =>
  entries.map(([id, time, t], i) => ({ id, from: i % 2 ? 'bob' : 'alice', to: i % 2 ? 'alice' : 'bob', time, body: text(t) }));
const group = { id: 'team', type: 'Public', name: 'Team', owner: 'alice', createTime: T - 1000 };
const groupMessages = (entries: Array<[id: string, time: number, text: string]>) =>
  entries.map(([id, time, t], i) => ({ id, group: 'team', from: i % 2 ? 'bob' : 'alice', time, body: text(t) }));

describe('order and identity of imported messages', () => {
  let temporal: TestTemporal;
  let emulator: ImEmulator;
  let dir: string;

  beforeAll(async () => ({ temporal, emulator, dir } = await startImTestbed(IM, 'tim-order-')));
  afterAll(() => closeImTestbed({ temporal, emulator }));

  const im = () => new ImClient({ ...IM, baseUrl: emulator.baseUrl });

  function writeBundle(name: string, files: Record<string, unknown[]>): string {
    const bundle = join(dir, name);
    mkdirSync(bundle, { recursive: true });
    for (const [file, lines] of Object.entries(files)) {
      writeFileSync(join(bundle, file), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    }
    return bundle;
  }

  async function load(store: StagingStore, bundle: string): Promise<void> {
    expect((await store.load(bundle)).errors).toBe(0);
  }

  /** One migration over the store through the real workers; it must complete with no failure. */
  async function migrate(store: StagingStore, phases: ImportPhase[]): Promise<void> {
    const prefix = uniqueId('order');
    const workers = await startImportWorkers(temporal, { taskQueuePrefix: prefix, store, im: im() });
    try {
      const options = testMigrationOptions(prefix, {
        migrationId: uniqueId('order'),
        phases,
        groupConcurrency: 2,
        batchSizes: { accounts: 100, friends: 100, members: 20 },
      });
      const result = await runMigration(temporal, options);
      expect(result.state).toBe('completed');
      expect(store.countByEntity(options.migrationId)).toEqual({});
    } finally {
      await workers.stop();
    }
  }

  const conversationTexts = async () => (await im().roamingMessagesAll('alice', 'bob')).map((m) => textOf(m.MsgBody));

  test('a conversation’s messages of one second keep the bundle’s order; a re-run, a new store, a newer export add no duplicate', async () => {
    emulator.reset();
    // Neither the ids' order nor their hashes' order is the bundle's.
    const first = c2c([
      ['m-9', T - 1, 'before'],
      ['m-5', T, '1st'],
      ['m-2', T, '2nd'],
      ['m-8', T, '3rd'],
      ['m-1', T, '4th'],
      ['m-7', T, '5th'],
      ['m-3', T, '6th'],
      ['m-4', T + 1, 'after'],
    ]);
    const inOrder = ['before', '1st', '2nd', '3rd', '4th', '5th', '6th', 'after'];
    const store = new StagingStore(join(dir, 'c2c.sqlite'));
    try {
      await load(store, writeBundle('c2c-1', { 'accounts.ndjson': accounts, 'messages.ndjson': first }));
      await migrate(store, ['accounts', 'messages']);
      expect(await conversationTexts()).toEqual(inOrder);

      // The same export again, and into a new store: every message has its identity again.
      await migrate(store, ['messages']);
      const fresh = new StagingStore(join(dir, 'c2c-fresh.sqlite'));
      try {
        await load(fresh, writeBundle('c2c-1-again', { 'accounts.ndjson': accounts, 'messages.ndjson': first }));
        await migrate(fresh, ['messages']);
      } finally {
        fresh.close();
      }
      expect(await conversationTexts()).toEqual(inOrder);

      // A newer export: more messages in the same second, one of them listed before the others.
      // The messages already held keep their places; the new ones follow them in that second.
      const newer = c2c([
        ['m-0', T, 'new, listed first'],
        ...first.map((m) => [m.id, m.time, textOf(m.body)] as [string, number, string]),
        ['m-6', T, 'new, listed last'],
        ['m-10', T + 5, 'later'],
      ]);
      await load(store, writeBundle('c2c-2', { 'accounts.ndjson': accounts, 'messages.ndjson': newer }));
      await migrate(store, ['messages']);
      expect(await conversationTexts()).toEqual([...inOrder.slice(0, 7), 'new, listed first', 'new, listed last', 'after', 'later']);
    } finally {
      store.close();
    }
  });

  test('a group’s messages of one second are spread over the next seconds in the bundle’s order', async () => {
    emulator.reset();
    const store = new StagingStore(join(dir, 'group-order.sqlite'));
    try {
      const bundle = writeBundle('group-order', {
        'accounts.ndjson': accounts,
        'groups.ndjson': [group],
        'group-members.ndjson': [{ group: 'team', account: 'bob', joinTime: T - 500 }],
        'group-messages.ndjson': groupMessages([
          ['g-5', T, '1st'],
          ['g-2', T, '2nd'],
          ['g-8', T, '3rd'],
          ['g-1', T, '4th'],
          ['g-7', T + 2, '5th'],
        ]),
      });
      await load(store, bundle);
      await migrate(store, ['accounts', 'groups', 'members', 'groupMessages']);
      const held = await im().groupMessagesAll('team');
      expect(held.map((m) => [textOf(m.MsgBody), m.MsgTimeStamp])).toEqual([
        ['1st', T],
        ['2nd', T + 1],
        ['3rd', T + 2],
        ['4th', T + 3],
        ['5th', T + 4],
      ]);
    } finally {
      store.close();
    }
  });

  test('two messages of one group whose old ids hash alike are both kept, and a re-run adds neither again', async () => {
    emulator.reset();
    // Found by search: their hashes agree in the 32 bits a one-to-one MsgRandom takes.
    const [a, b] = ['gm-108110', 'gm-158859'];
    expect(messageRandom(a)).toBe(messageRandom(b));
    const store = new StagingStore(join(dir, 'group-random.sqlite'));
    try {
      const bundle = writeBundle('group-random', {
        'accounts.ndjson': accounts,
        'groups.ndjson': [group],
        'group-members.ndjson': [{ group: 'team', account: 'bob', joinTime: T - 500 }],
        'group-messages.ndjson': groupMessages([
          [a, T, 'one'],
          ['gm-x', T + 10, 'between'],
          [b, T + 20, 'two'],
        ]),
      });
      await load(store, bundle);
      await migrate(store, ['accounts', 'groups', 'members', 'groupMessages']);
      await migrate(store, ['groupMessages']);
      const held = await im().groupMessagesAll('team');
      expect(held.map((m) => textOf(m.MsgBody))).toEqual(['one', 'between', 'two']);
      expect(new Set(held.map((m) => m.MsgRandom)).size).toBe(3);
    } finally {
      store.close();
    }
  });
});
