/** The gateway's endpoints, fed by the IM emulator's real callbacks and by forged or malformed requests. */
import { startImEmulator, type ImEmulator } from '../emulator/im';
import { createSyncGateway } from '../gateway';
import type { SyncEvent } from '../gateway/sync-events';
import { callbackSign, CALLBACK_OK } from '../im/callbacks';
import { ImClient } from '../im/client';
import { LEGACY_EVENTS_PATH, signedBridgeHeaders } from '../legacy/bridge';
import { toImGroupId } from '../legacy/id-mapping';

const IM = { sdkAppId: 1400000555, secretKey: 'gw-key', admin: 'administrator' };
const TOKEN = 'callback-token';
const SECRET = 'bridge-secret';
const text = (t: string) => [{ MsgType: 'TIMTextElem' as const, MsgContent: { Text: t } }];

describe('IM callback endpoint', () => {
  let emulator: ImEmulator;
  let base: string;
  const delivered: SyncEvent[] = [];
  const mapped = new Map<string, string>();
  const gateway = createSyncGateway({
    sdkAppId: IM.sdkAppId,
    admin: IM.admin,
    callbackToken: TOKEN,
    legacySecret: SECRET,
    sink: { accept: async (e) => (delivered.push(e), e.echoOf ? 'echo' : 'queued') },
    groups: { imGroupIdOf: (old) => mapped.get(old) ?? old, recordIdMapping: (_k, old, im) => void mapped.set(old, im) },
  });

  beforeAll(async () => {
    await gateway.app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(gateway.app.server.address() as { port: number }).port}`;
    emulator = await startImEmulator({ ...IM, faults: { latencyMs: 0 }, callbackUrl: `${base}/im/callback`, callbackToken: TOKEN });
  });
  afterAll(async () => {
    await emulator.close();
    await gateway.app.close();
  });

  const post = (query: Record<string, string>, body: unknown) =>
    fetch(`${base}/im/callback?${new URLSearchParams(query)}`, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body) });
  const signed = (extra: Record<string, string> = {}) => {
    const RequestTime = String(Math.floor(Date.now() / 1000));
    return { SdkAppid: String(IM.sdkAppId), CallbackCommand: 'C2C.CallbackAfterSendMsg', contenttype: 'json', ClientIP: '1.2.3.4', OptPlatform: 'iOS', RequestTime, Sign: callbackSign(TOKEN, RequestTime), ...extra };
  };
  const c2c = { CallbackCommand: 'C2C.CallbackAfterSendMsg', From_Account: 'a', To_Account: 'b', MsgSeq: 1, MsgRandom: 2, MsgTime: 1700000000, MsgBody: text('hi') };

  test('real callbacks from IM are verified, acknowledged and handed over with their conversation and a distinct event id', async () => {
    const im = new ImClient({ ...IM, baseUrl: emulator.baseUrl });
    await im.multiaccountImport({ Accounts: ['a', 'b'] });
    await emulator.asUser('a', 'Android').sendC2C('b', text('from the new app'));
    await im.call('sendmsg', { From_Account: 'a', To_Account: 'b', MsgRandom: 5, MsgBody: text('from REST') });
    await emulator.callbacksDrained();
    expect(emulator.counters()).toMatchObject({ callbacksSent: 2, callbacksFailed: 0 });
    expect(delivered.map((d) => [d.kind, d.entity, d.echoOf])).toEqual([
      ['C2C.CallbackAfterSendMsg', { kind: 'conversation', users: ['a', 'b'] }, undefined],
      ['C2C.CallbackAfterSendMsg', { kind: 'conversation', users: ['a', 'b'] }, undefined],
    ]);
    expect(delivered[0].eventId).not.toBe(delivered[1].eventId);
  });

  test('a forged or stale signature gets 401 and nothing is handed over', async () => {
    const before = delivered.length;
    expect((await post(signed({ Sign: callbackSign('wrong-token', String(Math.floor(Date.now() / 1000))) }), c2c)).status).toBe(401);
    const stale = String(Math.floor(Date.now() / 1000) - 120);
    expect((await post(signed({ RequestTime: stale, Sign: callbackSign(TOKEN, stale) }), c2c)).status).toBe(401);
    expect((await post({ ...signed(), Sign: '' }, c2c)).status).toBe(401);
    expect(delivered.length).toBe(before);
    expect(gateway.counters().rejected.signature).toBe(3);
  });

  test('another app’s SdkAppid is refused; a malformed body of a known command is a 400 naming the field', async () => {
    expect((await post(signed({ SdkAppid: '1400000001' }), c2c)).status).toBe(403);
    const res = await post(signed(), { ...c2c, MsgSeq: 'x' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { ErrorInfo: string }).ErrorInfo).toMatch(/MsgSeq/);
  });

  test('unknown commands are acknowledged and counted, never a crash', async () => {
    const res = await post(signed({ CallbackCommand: 'State.StateChange' }), { CallbackCommand: 'State.StateChange', Info: {} });
    expect(await res.json()).toEqual(CALLBACK_OK);
    expect(gateway.counters().unknownCommands['State.StateChange']).toBe(1);
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });

  const postLegacy = (body: unknown, headers: Record<string, string> = signedBridgeHeaders(SECRET, JSON.stringify(body))) =>
    fetch(`${base}${LEGACY_EVENTS_PATH}`, { method: 'POST', headers, body: JSON.stringify(body) });
  const legacyMessage = { eventId: 'e1', type: 'message', messageId: 'm1', from: 'alice', to: 'bob', time: 1700000000, body: text('hi') };

  test('old-system events need a valid HMAC of timestamp and body: missing, forged or stale ones get 401', async () => {
    const before = delivered.length;
    expect((await postLegacy(legacyMessage, { 'content-type': 'application/json' })).status).toBe(401);
    expect((await postLegacy(legacyMessage, signedBridgeHeaders('other-secret', JSON.stringify(legacyMessage)))).status).toBe(401);
    const stale = signedBridgeHeaders(SECRET, JSON.stringify(legacyMessage), Math.floor(Date.now() / 1000) - 3600);
    const res = await postLegacy(legacyMessage, stale);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toMatch(/x-tim-timestamp/);
    expect(delivered.length).toBe(before);
  });

  test('a malformed old-system event is a 400 naming the field; a valid one is handed over with IM ids', async () => {
    const bad = await postLegacy({ ...legacyMessage, time: 'yesterday' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^time: /);
    const unknown = await postLegacy({ ...legacyMessage, type: 'friend.added' });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: string }).error).toMatch(/^type: /);

    const ok = await postLegacy({ eventId: 'e2', type: 'group.created', groupId: 'grp with spaces!', groupType: 'Community', name: 'G', time: 1700000000 });
    expect(ok.status).toBe(200);
    const imId = toImGroupId('grp with spaces!', 'Community');
    expect(delivered.at(-1)).toMatchObject({ eventId: 'old:e2', direction: 'oldToNew', entity: { kind: 'group', groupId: imId } });
    // Later events of that group route to the same entity through the recorded mapping.
    await postLegacy({ eventId: 'e3', type: 'group.disbanded', groupId: 'grp with spaces!', time: 1700000001 });
    expect(delivered.at(-1)?.entity).toEqual({ kind: 'group', groupId: imId });
  });

  test('the tool’s own writes coming back are recognised as echoes on both endpoints', async () => {
    await postLegacy({ ...legacyMessage, eventId: 'e4', origin: { system: 'tim-migrate', eventId: 'im:c2c:x' } });
    expect(delivered.at(-1)?.echoOf).toMatch(/im:c2c:x/);
    const im = new ImClient({ ...IM, baseUrl: emulator.baseUrl });
    await im.call('create_group', { Type: 'Public', GroupId: 'g-admin', Name: 'by admin', Owner_Account: 'a' });
    await emulator.callbacksDrained();
    expect(delivered.at(-1)).toMatchObject({ kind: 'Group.CallbackAfterCreateGroup', echoOf: expect.stringMatching(/migration admin/) });
    expect(gateway.counters().accepted.oldToNew.echo).toBe(1);
  });
});
