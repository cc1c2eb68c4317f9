/** The gateway's endpoints, fed by the IM emulator's real callbacks and by forged or malformed requests. */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startImEmulator, type ImEmulator } from '../emulator/im';
import { createSyncGateway, type SyncGatewayOptions } from '../gateway';
import { CallbackReplayGuard, SourceAllowList } from '../gateway/callback-guards';
import { IM_CALLBACK_PATH } from '../gateway/im-callbacks';
import type { SyncEvent } from '../gateway/sync-events';
import { callbackSign, CALLBACK_OK, CALLBACK_MAX_CLOCK_SKEW_S } from '../im/callbacks';
import { ImClient } from '../im/client';
import { COMMUNITY_MAX_MEMBER_COUNT, USER_ID_MAX_BYTES } from '../im/messages';
import { LEGACY_EVENTS_PATH, signedBridgeHeaders } from '../legacy/bridge';
import { toImGroupId } from '../legacy/id-mapping';
import { StagingStore } from '../legacy/store';
import { loadSyncSettings } from '../workers/settings';

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
    fetch(`${base}/im/callback?${new URLSearchParams(query)}`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const signed = (extra: Record<string, string> = {}) => {
    const RequestTime = String(Math.floor(Date.now() / 1000));
    return {
      SdkAppid: String(IM.sdkAppId),
      CallbackCommand: 'C2C.CallbackAfterSendMsg',
      contenttype: 'json',
      ClientIP: '1.2.3.4',
      OptPlatform: 'iOS',
      RequestTime,
      Sign: callbackSign(TOKEN, RequestTime),
      ...extra,
    };
  };
  const c2c = {
    CallbackCommand: 'C2C.CallbackAfterSendMsg',
    From_Account: 'a',
    To_Account: 'b',
    MsgSeq: 1,
    MsgRandom: 2,
    MsgTime: 1700000000,
    MsgBody: text('hi'),
  };

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

  test('a signed request seen once is refused when replayed, while other callbacks signed in the same second go through', async () => {
    const query = signed();
    const before = delivered.length;
    expect((await post(query, { ...c2c, MsgSeq: 101 })).status).toBe(200);
    const replay = await post(query, { ...c2c, MsgSeq: 101 });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { ErrorInfo: string }).ErrorInfo).toMatch(/replay/);
    // Sign depends on RequestTime alone: IM's next callback of that second carries the same pair.
    expect((await post(query, { ...c2c, MsgSeq: 102 })).status).toBe(200);
    expect(delivered.slice(before).map((d) => d.eventId)).toEqual([expect.stringContaining(':101:'), expect.stringContaining(':102:')]);
    expect(gateway.counters().rejected.replay).toBe(1);
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

  test('callbacks of a group of a few thousand members (create and disband list them all) are taken', async () => {
    const im = new ImClient({ ...IM, baseUrl: emulator.baseUrl });
    const members = Array.from({ length: 3000 }, (_, i) =>
      `big-group-member-with-a-long-id-${String(i).padStart(4, '0')}`.slice(-USER_ID_MAX_BYTES),
    );
    for (let i = 0; i < members.length; i += 100) await im.multiaccountImport({ Accounts: members.slice(i, i + 100) });
    const { groupId } = await emulator.asUser('a', 'iOS').createGroup({ groupId: 'big-group', type: 'Public', name: 'Big', members });
    await emulator.asUser('a', 'iOS').disbandGroup(groupId);
    await emulator.callbacksDrained();
    expect(emulator.counters().callbacksFailed).toBe(0);
    const memberCount = (e: SyncEvent | undefined) => (e?.payload as { MemberList: unknown[] } | undefined)?.MemberList.length;
    expect(
      memberCount(
        delivered.find((d) => d.kind === 'Group.CallbackAfterCreateGroup' && d.entity.kind === 'group' && d.entity.groupId === groupId),
      ),
    ).toBe(3001);
    expect(
      memberCount(
        delivered.find((d) => d.kind === 'Group.CallbackAfterGroupDestroyed' && d.entity.kind === 'group' && d.entity.groupId === groupId),
      ),
    ).toBe(3001);
  });

  test('the largest callback IM documents, a Community group of 100,000 members disbanded, is taken', async () => {
    const MemberList = Array.from({ length: COMMUNITY_MAX_MEMBER_COUNT }, (_, i) => ({
      Member_Account: `u${String(i).padStart(USER_ID_MAX_BYTES - 1, '0')}`,
    }));
    const body = {
      CallbackCommand: 'Group.CallbackAfterGroupDestroyed',
      GroupId: '@TGS#_community',
      Type: 'Community',
      Owner_Account: 'a',
      MemberList,
    };
    const res = await post(signed({ CallbackCommand: body.CallbackCommand }), body);
    expect(res.status).toBe(200);
    expect(delivered.at(-1)).toMatchObject({ kind: body.CallbackCommand, entity: { kind: 'group', groupId: '@TGS#_community' } });
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

    const ok = await postLegacy({
      eventId: 'e2',
      type: 'group.created',
      groupId: 'grp with spaces!',
      groupType: 'Community',
      name: 'G',
      time: 1700000000,
    });
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

describe('gateway start-up and source checks', () => {
  const quietSink: SyncGatewayOptions['sink'] = { accept: async () => 'queued' };
  const base: SyncGatewayOptions = {
    sdkAppId: IM.sdkAppId,
    admin: IM.admin,
    callbackToken: TOKEN,
    legacySecret: SECRET,
    sink: quietSink,
    groups: { imGroupIdOf: (g) => g, recordIdMapping: () => undefined },
  };
  const callbackUrl = (nowS = Math.floor(Date.now() / 1000)) =>
    `${IM_CALLBACK_PATH}?${new URLSearchParams({ SdkAppid: String(IM.sdkAppId), CallbackCommand: 'State.StateChange', OptPlatform: 'iOS', RequestTime: String(nowS), Sign: callbackSign(TOKEN, nowS) })}`;
  // Each body distinct: the same signed request twice would be a replay.
  const stateChange = () => JSON.stringify({ CallbackCommand: 'State.StateChange', Info: {}, nonce: Math.random() });

  /** Starts the gateway on a local port; `post` sends one signed State.StateChange callback (or `payload`). */
  async function listening(options: Partial<SyncGatewayOptions> = {}) {
    const gw = createSyncGateway({ ...base, ...options });
    await gw.app.listen({ host: '127.0.0.1', port: 0 });
    started.push(gw);
    const origin = `http://127.0.0.1:${(gw.app.server.address() as { port: number }).port}`;
    const post = (headers: Record<string, string> = {}, url = callbackUrl(), payload = stateChange()) =>
      fetch(`${origin}${url}`, { method: 'POST', headers, body: payload });
    return { gw, post };
  }
  const started: Array<ReturnType<typeof createSyncGateway>> = [];
  afterAll(async () => {
    for (const gw of started) await gw.app.close();
  });

  test('the gateway refuses to start without a callback token unless unsigned callbacks are asked for', async () => {
    expect(() => createSyncGateway({ ...base, callbackToken: undefined })).toThrow(
      /TIM_CALLBACK_TOKEN is not set[\s\S]*--insecure-callbacks/,
    );
    const insecure = await listening({ callbackToken: undefined, insecureCallbacks: true });
    expect((await insecure.post({}, `${IM_CALLBACK_PATH}?SdkAppid=${IM.sdkAppId}`)).status).toBe(200);
  });

  test('`tim-migrate gateway` without TIM_CALLBACK_TOKEN exits naming it, before it connects to anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tim-gw-'));
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const p = (server.address() as { port: number }).port;
        server.close(() => resolve(p));
      });
    });
    const env = {
      PATH: process.env.PATH,
      TEMPORAL_ADDRESS: `127.0.0.1:${port}`,
      TIM_STORE: join(dir, 'store.sqlite'),
      TIM_SDKAPPID: String(IM.sdkAppId),
      TIM_SECRET_KEY: IM.secretKey,
      TIM_ADMIN: IM.admin,
      TIM_LEGACY_BRIDGE_URL: 'http://127.0.0.1:1',
      TIM_LEGACY_WEBHOOK_SECRET: 'a-bridge-secret-of-16+',
    };
    const cli = join(__dirname, '..', 'scripts', 'cli.ts');
    const tsx = join(__dirname, '..', 'node_modules', '.bin', 'tsx');
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(tsx, [cli, 'gateway'], { cwd: dir, env, timeout: 60_000 }, (_err, _stdout, stderr) =>
        resolve({ code: child.exitCode, stderr }),
      );
    });
    expect(run.stderr).toMatch(/TIM_CALLBACK_TOKEN is not set[\s\S]*--insecure-callbacks/);
    expect(run.code).toBe(1);
  });

  test('with an allow-list, callbacks come only from its addresses; X-Forwarded-For counts only from a trusted proxy', async () => {
    const sources = SourceAllowList.parse('10.0.0.0/8, 2001:db8::/32');
    expect(['10.1.2.3', '::ffff:10.1.2.3', '2001:db8::7'].map((ip) => sources.allows(ip))).toEqual([true, true, true]);
    expect(['198.51.100.7', '::1', 'not-an-ip'].map((ip) => sources.allows(ip))).toEqual([false, false, false]);

    const local = await listening({ callbackSources: SourceAllowList.parse('127.0.0.0/8') });
    expect((await local.post()).status).toBe(200);
    const elsewhere = await listening({ callbackSources: sources });
    const stranger = await elsewhere.post();
    expect(stranger.status).toBe(403);
    expect(await stranger.json()).toMatchObject({ ErrorInfo: expect.stringMatching(/127\.0\.0\.1 is not in the callback allow-list/) });
    // Without a trusted proxy, a header names nothing.
    expect((await elsewhere.post({ 'x-forwarded-for': '10.1.2.3' })).status).toBe(403);
    expect(elsewhere.gw.counters().rejected.sourceAddress).toBe(2);

    const behindProxy = await listening({ callbackSources: sources, trustedProxies: ['127.0.0.1'] });
    expect((await behindProxy.post({ 'x-forwarded-for': '10.1.2.3' })).status).toBe(200);
    expect((await behindProxy.post({ 'x-forwarded-for': '198.51.100.7' })).status).toBe(403);
  });

  test('the allow-list and trusted-proxy settings name an entry that is not an address or range', () => {
    const required = { TIM_LEGACY_BRIDGE_URL: 'http://old.example', TIM_LEGACY_WEBHOOK_SECRET: 'a-bridge-secret-of-16+' };
    expect(
      loadSyncSettings({ ...required, TIM_CALLBACK_ALLOWED_IPS: '203.0.113.0/24, 2001:db8::/32' }).TIM_CALLBACK_ALLOWED_IPS?.allows(
        '203.0.113.9',
      ),
    ).toBe(true);
    expect(() => loadSyncSettings({ ...required, TIM_CALLBACK_ALLOWED_IPS: '203.0.113.0/24, im.tencent.com' })).toThrow(
      /TIM_CALLBACK_ALLOWED_IPS: "im.tencent.com" is not an IP address/,
    );
    expect(() => loadSyncSettings({ ...required, TIM_GATEWAY_TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(
      /TIM_GATEWAY_TRUSTED_PROXIES: "10.0.0.0\/33"/,
    );
  });

  test('a request the gateway failed to hand over is not a replay when it comes again', async () => {
    let failNext = true;
    const flaky = await listening({
      sink: {
        accept: async () => {
          if (failNext) throw new Error('Temporal unreachable');
          return 'queued';
        },
      },
    });
    const url = callbackUrl();
    const payload = JSON.stringify({
      CallbackCommand: 'C2C.CallbackAfterSendMsg',
      From_Account: 'a',
      To_Account: 'b',
      MsgSeq: 1,
      MsgRandom: 2,
      MsgTime: 1700000000,
      MsgBody: [],
    });
    expect((await flaky.post({}, url, payload)).status).toBe(500);
    failNext = false;
    expect((await flaky.post({}, url, payload)).status).toBe(200);
    expect((await flaky.post({}, url, payload)).status).toBe(401);
  });

  test('the replay memory holds only requests inside the accepted time window', () => {
    const guard = new CallbackReplayGuard();
    const t0 = 1_700_000_000;
    for (let s = 0; s < 600; s++) for (let i = 0; i < 5; i++) guard.firstSight(t0 + s, `/im/callback?n=${i}`, 'body', t0 + s);
    expect(guard.size()).toBeLessThanOrEqual((CALLBACK_MAX_CLOCK_SKEW_S + 1) * 5);
    expect(guard.firstSight(t0 + 599, '/im/callback?n=0', 'body', t0 + 599)).toBe(false);
  });
});

describe('the store the gateway journals into', () => {
  test('runs at synchronous FULL, so an acknowledged event survives a power cut', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'tim-gw-store-')), 'store.sqlite');
    new StagingStore(path).close();
    // Opened again as `tim-migrate gateway` opens an existing store (WAL already on).
    const store = new StagingStore(path);
    try {
      expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(store.db.pragma('synchronous', { simple: true })).toBe(2);
    } finally {
      store.close();
    }
  });
});
