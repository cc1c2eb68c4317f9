/**
 * Events that would otherwise wait forever: one that fails with neither a final error nor an outage
 * (a quota IM keeps refusing) is parked once it has failed for the sync's bound, its conversation
 * goes on, and `sync replay-parked` sends it again; one journalled whose signal was lost is found
 * by the gateway's sweep. Dev server, IM emulator, old-system emulator, gateway, sync worker.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startImEmulator, type ImEmulator } from '../emulator/im';
import { ApiError } from '../emulator/im/rest-api';
import { TemporalSyncDispatcher } from '../gateway/sync-events';
import { ImClient } from '../im/client';
import type { MsgBody } from '../im/messages';
import { StagingStore } from '../legacy/store';
import { PARKED_PREFIX } from '../legacy/sync-journal';
import { replayRejected } from '../scripts/commands/sync';
import { startCoexistence, type Coexistence } from '../scripts/lib/coexistence';
import { startSync } from '../scripts/lib/sync-control';
import { syncEntityWorkflowId } from '../workflows/sync-api';
import { connectTestTemporal, type TestTemporal, uniqueId } from './helpers/temporal';

const IM = { sdkAppId: 1400000779, secretKey: 'parking-test-key', admin: 'administrator' };
const text = (t: string): MsgBody => [{ MsgType: 'TIMTextElem', MsgContent: { Text: t } }];
const textOf = (body: ReadonlyArray<{ MsgContent: unknown }>) => body.map((e) => (e.MsgContent as { Text?: string }).Text ?? '').join('');
/** IM's answer for an account over its edition's quota: auth-config, neither final for the event nor an outage. */
const QUOTA_CODE = 10038;

describe('sync events that would wait forever', () => {
  let temporal: TestTemporal;
  let emulator: ImEmulator;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    emulator = await startImEmulator({ ...IM, faults: { latencyMs: 0 } });
  });
  afterAll(async () => {
    await emulator?.close();
    await temporal?.close();
  });

  /** A store, the two accounts in IM, the gateway and sync worker (started and running), then `fn`; closed after. */
  async function withSync(
    users: string[],
    options: { parkAfterMs?: number },
    fn: (c: Coexistence, prefix: string) => Promise<void>,
  ): Promise<void> {
    const prefix = uniqueId('stuck');
    const store = new StagingStore(join(mkdtempSync(join(tmpdir(), 'tim-stuck-')), 'store.sqlite'));
    await new ImClient({ ...IM, baseUrl: emulator.baseUrl }).multiaccountImport({ Accounts: users });
    const c = await startCoexistence({
      client: temporal.client,
      connection: temporal.nativeConnection,
      namespace: temporal.namespace,
      taskQueuePrefix: prefix,
      store,
      im: emulator,
      imConfig: IM,
      legacySecret: 'stuck-events-bridge-secret',
      callbackToken: 'stuck-events-callback-token',
      ...options,
    });
    try {
      await startSync(temporal.client, prefix);
      while (c.journal.status() !== 'running') await new Promise((r) => setTimeout(r, 100));
      await fn(c, prefix);
    } finally {
      await c.close();
      store.close();
    }
  }

  test('an event IM keeps refusing for a quota is parked after the bound, later ones go on, and replay-parked sends it again', async () => {
    const tag = uniqueId('park');
    const [ann, bob] = [`ann-${tag}`, `bob-${tag}`];
    const imTexts = () =>
      Object.values(emulator.snapshot().conversations)
        .flat()
        .map((m) => textOf(m.body))
        .filter((t) => t.includes(tag));
    await withSync([ann, bob], { parkAfterMs: 2000 }, async (c, prefix) => {
      // IM refuses the first message for good reason, but not a reason that ends the event.
      emulator.intercept((api, body, handle) => {
        if (api === 'importmsg' && textOf(body.MsgBody as MsgBody) === `${tag} first`)
          throw new ApiError(QUOTA_CODE, 'member quota exceeded');
        return handle(body);
      });
      await c.legacy.asUser(ann).sendMessage(bob, text(`${tag} first`));
      await c.legacy.asUser(ann).sendMessage(bob, text(`${tag} second`));
      const parked = await c.settled();
      expect(imTexts()).toEqual([`${tag} second`]);
      expect(parked.directions.oldToNew).toMatchObject({ rejected: 1, applied: 1, pending: 0 });
      expect(parked.rejectedReasons.map((r) => r.detail)).toEqual([
        expect.stringMatching(new RegExp(`^${PARKED_PREFIX}failed for \\d+ s: .*10038`)),
      ]);

      // The quota is raised: the parked event goes in, in its place in the conversation.
      emulator.intercept(undefined);
      expect(await replayRejected(c.journal, new TemporalSyncDispatcher(temporal.client, c.journal, prefix))).toBe(1);
      const replayed = await c.settled();
      expect(imTexts()).toEqual([`${tag} first`, `${tag} second`]);
      expect(replayed.directions.oldToNew).toMatchObject({ rejected: 0, applied: 2, pending: 0 });
    }).finally(() => emulator.intercept(undefined));
  });

  test("an event journalled whose signal was lost is applied by the gateway's sweep, without waiting for another event", async () => {
    const tag = uniqueId('lost');
    const [cid, dan] = [`cid-${tag}`, `dan-${tag}`];
    await withSync([cid, dan], {}, async (c, prefix) => {
      // What the gateway left when Temporal was unreachable after the journal write: the event, no signal.
      const event = {
        eventId: `${tag}-ev`,
        type: 'message',
        messageId: `${tag}-msg`,
        from: cid,
        to: dan,
        time: Math.floor(Date.now() / 1000),
        body: text(`${tag} lost`),
      };
      c.journal.record({
        eventId: `old:msg:${tag}`,
        direction: 'oldToNew',
        kind: 'message',
        entityId: syncEntityWorkflowId(prefix, { kind: 'conversation', users: [cid, dan] }),
        payload: event,
        receivedAtMs: Date.now() - 60_000,
        outcome: 'pending',
      });
      expect(await c.dispatcher.sweepLostSignals(30_000)).toBe(1);
      await c.settled();
      expect(
        Object.values(emulator.snapshot().conversations)
          .flat()
          .map((m) => textOf(m.body)),
      ).toContain(`${tag} lost`);
      // Once applied, nothing is left to sweep.
      expect(await c.dispatcher.sweepLostSignals(0)).toBe(0);
    });
  });
});
