/**
 * Group lifetimes through the whole live sync (dev server, both emulators, gateway, sync worker): a
 * custom group id disbanded and created again in App 2.0, and a disband that went through REST.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startImEmulator, type ImEmulator } from '../emulator/im';
import { ImClient } from '../im/client';
import type { MsgBody } from '../im/messages';
import { StagingStore } from '../legacy/store';
import { startCoexistence, type Coexistence } from '../scripts/lib/coexistence';
import { startSync } from '../scripts/lib/sync-control';
import { connectTestTemporal, type TestTemporal, uniqueId } from './helpers/temporal';

const IM = { sdkAppId: 1400000778, secretKey: 'lifetimes-test-key', admin: 'administrator' };
const text = (t: string): MsgBody => [{ MsgType: 'TIMTextElem', MsgContent: { Text: t } }];
const textOf = (body: ReadonlyArray<{ MsgContent: unknown }>) => body.map((e) => (e.MsgContent as { Text?: string }).Text ?? '').join('');

describe('group lifetimes in the live sync', () => {
  let temporal: TestTemporal;
  let emulator: ImEmulator;
  let dir: string;

  beforeAll(async () => {
    temporal = await connectTestTemporal();
    emulator = await startImEmulator({ ...IM, faults: { latencyMs: 0 } });
    dir = mkdtempSync(join(tmpdir(), 'tim-lifetimes-'));
  });
  afterAll(async () => {
    await emulator?.close();
    await temporal?.close();
  });

  async function withSync(users: string[], fn: (c: Coexistence, store: StagingStore) => Promise<void>): Promise<void> {
    const prefix = uniqueId('life');
    const store = new StagingStore(join(dir, `${prefix}.sqlite`));
    await new ImClient({ ...IM, baseUrl: emulator.baseUrl }).multiaccountImport({ Accounts: users });
    const coex = await startCoexistence({
      client: temporal.client,
      connection: temporal.nativeConnection,
      namespace: temporal.namespace,
      taskQueuePrefix: prefix,
      store,
      im: emulator,
      imConfig: IM,
      legacySecret: 'lifetimes-bridge-secret',
      callbackToken: 'lifetimes-callback-token',
    });
    try {
      await startSync(temporal.client, prefix);
      const deadline = Date.now() + 30_000;
      while (coex.journal.status() !== 'running' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await fn(coex, store);
    } finally {
      await coex.close();
      store.close();
    }
  }

  test('a custom group id disbanded and created again in App 2.0: the new group’s messages reach the old system', async () => {
    const tag = uniqueId('again');
    const [owner, peer] = [`owner-${tag}`, `peer-${tag}`];
    await withSync([owner, peer], async (c) => {
      const groupId = `${tag}-group`;
      const app2 = emulator.asUser(owner, 'iOS');
      await app2.createGroup({ groupId, type: 'Public', name: 'First', members: [peer] });
      await app2.sendGroupMsg(groupId, text(`${tag} first life #1`));
      await c.settled();
      await app2.disbandGroup(groupId);
      await c.settled();
      await app2.createGroup({ groupId, type: 'Public', name: 'Second', members: [peer] });
      // MsgSeq starts at 1 again.
      expect(await app2.sendGroupMsg(groupId, text(`${tag} second life #1`))).toEqual({ msgSeq: 1 });
      const stats = await c.settled();

      const old = c.legacy.groups().find((g) => g.groupId === groupId);
      expect(old).toMatchObject({ name: 'Second', disbanded: false });
      expect(old?.messages.map((m) => textOf(m.body))).toEqual([`${tag} second life #1`]);
      expect(stats.directions.newToOld.rejected).toBe(0);
    });
  });

  test('a disband the sync made through REST comes back from IM as an echo and is not written to the old system', async () => {
    const tag = uniqueId('rest-disband');
    const [owner, peer] = [`owner-${tag}`, `peer-${tag}`];
    await withSync([owner, peer], async (c) => {
      const groupId = `${tag}-group`;
      await c.legacy.asUser(owner).createGroup({ groupId, groupType: 'Public', name: 'Old', members: [peer] });
      await c.settled();
      const before = c.journal.stats().directions.newToOld;
      await c.legacy.asUser(owner).disbandGroup(groupId);
      const after = (await c.settled()).directions.newToOld;

      expect(Object.values(emulator.snapshot().groups).some((g) => g.groupId === groupId)).toBe(false);
      expect(after.echo - before.echo).toBe(1);
      expect(after.applied - before.applied).toBe(0);
      expect(after.rejected).toBe(0);
      expect(c.legacy.counters().writesRefused).toBe(0);
    });
  });

  test('a group whose GroupId the import found held by someone else in IM: the sync neither writes into it nor forwards its events', async () => {
    const tag = uniqueId('foreign');
    const [stranger, peer, oldUser] = [`stranger-${tag}`, `peer-${tag}`, `old-${tag}`];
    await withSync([stranger, peer, oldUser], async (c, store) => {
      const groupId = `${tag}-group`;
      // Someone else's group in IM, under the id of a group of the old system.
      await new ImClient({ ...IM, baseUrl: emulator.baseUrl }).call('create_group', {
        Type: 'Public',
        GroupId: groupId,
        Name: 'Theirs',
        Owner_Account: stranger,
        MemberList: [{ Member_Account: peer }],
      });
      c.legacy.addExistingGroup({ groupId, groupType: 'Public', name: 'Ours', owner: oldUser, members: [oldUser] });
      await c.settled();
      // What the import recorded when it met that id (activities/import: import_group answered 10021).
      store.record({
        migrationId: `import-${tag}`,
        entity: 'group',
        itemId: groupId,
        api: 'import_group',
        code: 10021,
        errorClass: 'already-exists',
        reason: `GroupId is used by another group in IM (owner ${stranger}): nothing is written into it`,
      });
      const before = c.journal.stats().directions;

      await c.legacy.asUser(oldUser).sendGroupMessage(groupId, text(`${tag} from App 1.0`));
      await emulator.asUser(stranger, 'iOS').sendGroupMsg(groupId, text(`${tag} from their app`));
      const after = (await c.settled()).directions;

      expect(emulator.snapshot().groups[groupId].messages.map((m) => textOf(m.body))).toEqual([`${tag} from their app`]);
      expect(
        c.legacy
          .groups()
          .find((g) => g.groupId === groupId)
          ?.messages.map((m) => textOf(m.body)),
      ).toEqual([`${tag} from App 1.0`]);
      expect(after.oldToNew.rejected - before.oldToNew.rejected).toBe(1);
      expect(after.newToOld.rejected - before.newToOld.rejected).toBe(1);
    });
  });
});
