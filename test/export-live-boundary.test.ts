/**
 * The export/live boundary: the live sync may start before the export is taken, so a one-to-one
 * message can come both in the bundle and in the live stream (the old system's event carries the
 * same old message id). IM must hold it once, whichever comes first. Real dev server, IM emulator,
 * gateway, sync and import workers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImEmulator } from '../emulator/im';
import { ImClient } from '../im/client';
import { LEGACY_EVENTS_PATH, signedBridgeHeaders } from '../legacy/bridge';
import { StagingStore } from '../legacy/store';
import { startCoexistence, type Coexistence } from '../scripts/lib/coexistence';
import { startSync } from '../scripts/lib/sync-control';
import { formatSyncStats } from '../scripts/commands/sync';
import { closeImTestbed, runMigration, startImportWorkers, startImTestbed, testMigrationOptions } from './helpers/import-stack';
import { text, textOf } from './helpers/messages';
import { waitFor } from './helpers/polling';
import { type TestTemporal, uniqueId } from './helpers/temporal';

const IM = { sdkAppId: 1400000778, secretKey: 'boundary-test-key', admin: 'administrator' };
const SECRET = 'boundary-test-bridge-secret';
const TOKEN = 'boundary-test-callback-token';

describe('export/live boundary', () => {
  let temporal: TestTemporal;
  let emulator: ImEmulator;
  let dir: string;

  beforeAll(async () => ({ temporal, emulator, dir } = await startImTestbed(IM, 'tim-boundary-')));
  afterAll(() => closeImTestbed({ temporal, emulator }));

  /** A bundle of two users and their conversation: `earlier`, then the boundary message, then `later`, a second apart. */
  function writeBundle(tag: string, users: [string, string], boundary: { id: string; time: number }): string {
    const bundle = join(dir, `${tag}-bundle`);
    mkdirSync(bundle);
    const [a, b] = users;
    writeFileSync(join(bundle, 'accounts.ndjson'), users.map((id) => JSON.stringify({ id, nick: id })).join('\n') + '\n');
    const message = (id: string, time: number, t: string) => JSON.stringify({ id, from: a, to: b, time, body: text(t) });
    writeFileSync(
      join(bundle, 'messages.ndjson'),
      [
        message(`${tag}-earlier`, boundary.time - 1, `${tag} earlier`),
        message(boundary.id, boundary.time, `${tag} boundary`),
        message(`${tag}-later`, boundary.time + 1, `${tag} later`),
      ].join('\n') + '\n',
    );
    return bundle;
  }

  /** The texts IM holds in the conversation of `tag`'s users, in IM's order. */
  const imTexts = (tag: string) =>
    Object.values(emulator.snapshot().conversations)
      .flat()
      .map((m) => textOf(m.body))
      .filter((t) => t.startsWith(tag));

  async function withStack(
    tag: string,
    fn: (c: Coexistence, importAll: () => Promise<void>, store: StagingStore) => Promise<void>,
  ): Promise<void> {
    const prefix = uniqueId('boundary');
    const store = new StagingStore(join(dir, `${tag}.sqlite`));
    const coex = await startCoexistence({
      client: temporal.client,
      connection: temporal.nativeConnection,
      namespace: temporal.namespace,
      taskQueuePrefix: prefix,
      store,
      im: emulator,
      imConfig: IM,
      legacySecret: SECRET,
      callbackToken: TOKEN,
    });
    const workers = await startImportWorkers(temporal, {
      taskQueuePrefix: prefix,
      store,
      im: new ImClient({ ...IM, baseUrl: emulator.baseUrl }),
    });
    const importAll = async () => {
      const result = await runMigration(temporal, testMigrationOptions(prefix, { migrationId: uniqueId('boundary-import') }));
      expect(result.state).toBe('completed');
      expect(result.failuresByEntity).toEqual({});
    };
    try {
      await startSync(temporal.client, prefix);
      await waitFor(() => coex.journal.status() === 'running');
      await fn(coex, importAll, store);
    } finally {
      await workers.stop();
      await coex.close();
      store.close();
    }
  }

  /** The old system's event for the boundary message, posted to the gateway as the old system does. */
  const postBoundaryEvent = (c: Coexistence, tag: string, users: [string, string], messageId: string, time: number) => {
    const e = { eventId: `${tag}-event`, type: 'message', messageId, from: users[0], to: users[1], time, body: text(`${tag} boundary`) };
    return fetch(`${c.gatewayUrl}${LEGACY_EVENTS_PATH}`, {
      method: 'POST',
      headers: signedBridgeHeaders(SECRET, JSON.stringify(e)),
      body: JSON.stringify(e),
    });
  };

  test('live first, then the bundle import: the import skips the message the sync wrote by its old id', async () => {
    const tag = uniqueId('livefirst');
    const users: [string, string] = [`a-${tag}`, `b-${tag}`];
    const boundary = { id: `${tag}-boundary`, time: Math.floor(Date.now() / 1000) - 60 };
    await withStack(tag, async (c, importAll, store) => {
      await new ImClient({ ...IM, baseUrl: emulator.baseUrl }).multiaccountImport({ Accounts: users });
      expect((await postBoundaryEvent(c, tag, users, boundary.id, boundary.time)).status).toBe(200);
      await waitFor(
        () => c.journal.get(`old:msg:${tag}-event`)?.outcome === 'applied' || c.journal.stats().directions.oldToNew.applied === 1,
      );
      expect(imTexts(tag)).toEqual([`${tag} boundary`]);

      // The export was taken after the live message: it holds it too. (A load beside a running sync
      // needs --force: the sync keeps journalling into the store meanwhile.)
      expect((await store.load(writeBundle(tag, users, boundary), { force: true })).errors).toBe(0);
      const before = emulator.counters().calls.importmsg ?? 0;
      await importAll();
      expect((emulator.counters().calls.importmsg ?? 0) - before).toBe(2);
      expect(imTexts(tag).filter((t) => t === `${tag} boundary`)).toHaveLength(1);
      expect(imTexts(tag)).toHaveLength(3);
    });
  }, 120_000);

  test('the sync and the import writing the same message at the same instant leave one copy in IM', async () => {
    const tag = uniqueId('race');
    const users: [string, string] = [`a-${tag}`, `b-${tag}`];
    const boundary = { id: `${tag}-boundary`, time: Math.floor(Date.now() / 1000) - 60 };
    await withStack(tag, async (c, importAll, store) => {
      await new ImClient({ ...IM, baseUrl: emulator.baseUrl }).multiaccountImport({ Accounts: users });
      expect((await store.load(writeBundle(tag, users, boundary), { force: true })).errors).toBe(0);
      // The live event comes before the import reaches the message: the sync writes it.
      expect((await postBoundaryEvent(c, tag, users, boundary.id, boundary.time)).status).toBe(200);
      await waitFor(() => c.journal.stats().directions.oldToNew.applied === 1);
      // An import page that had read the message before the sync marked it sends it all the same.
      store.db.prepare('DELETE FROM accepted WHERE id = ?').run(boundary.id);
      await importAll();
      expect(imTexts(tag).filter((t) => t === `${tag} boundary`)).toHaveLength(1);
      expect(imTexts(tag)).toEqual([`${tag} earlier`, `${tag} boundary`, `${tag} later`]);
    });
  }, 120_000);

  test('bundle first, then the live event: the sync drops the message the import wrote, and sync status counts it', async () => {
    const tag = uniqueId('bundlefirst');
    const users: [string, string] = [`a-${tag}`, `b-${tag}`];
    const boundary = { id: `${tag}-boundary`, time: Math.floor(Date.now() / 1000) - 60 };
    await withStack(tag, async (c, importAll, store) => {
      expect((await store.load(writeBundle(tag, users, boundary), { force: true })).errors).toBe(0);
      await importAll();
      expect(imTexts(tag)).toEqual([`${tag} earlier`, `${tag} boundary`, `${tag} later`]);

      const sendsBefore = emulator.counters().calls.sendmsg ?? 0;
      expect((await postBoundaryEvent(c, tag, users, boundary.id, boundary.time)).status).toBe(200);
      await waitFor(() => c.journal.stats().directions.oldToNew.imported === 1);
      expect(emulator.counters().calls.sendmsg ?? 0).toBe(sendsBefore);
      expect(imTexts(tag)).toEqual([`${tag} earlier`, `${tag} boundary`, `${tag} later`]);
      expect(formatSyncStats(c.journal.stats(), store)).toMatch(/already imported/);
      expect(c.journal.stats().directions.oldToNew).toMatchObject({ received: 1, imported: 1, applied: 0, pending: 0 });
    });
  }, 120_000);
});
