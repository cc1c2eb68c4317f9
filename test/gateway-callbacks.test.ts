/** The gateway's IM callback endpoint, fed by the IM emulator's real callbacks and by forged ones. */
import { startImEmulator, type ImEmulator } from '../emulator/im';
import { createImCallbackGateway } from '../gateway/im-callbacks';
import { callbackSign, CALLBACK_OK } from '../im/callbacks';
import { ImClient } from '../im/client';

const IM = { sdkAppId: 1400000555, secretKey: 'gw-key', admin: 'administrator' };
const TOKEN = 'callback-token';
const text = (t: string) => [{ MsgType: 'TIMTextElem' as const, MsgContent: { Text: t } }];

describe('IM callback endpoint', () => {
  let emulator: ImEmulator;
  let base: string;
  const delivered: Array<{ command: string; optPlatform: string }> = [];
  const gateway = createImCallbackGateway({ sdkAppId: IM.sdkAppId, callbackToken: TOKEN, deliver: async (e) => void delivered.push(e) });

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

  test('real callbacks from IM are verified, acknowledged and handed over with their platform', async () => {
    const im = new ImClient({ ...IM, baseUrl: emulator.baseUrl });
    await im.multiaccountImport({ Accounts: ['a', 'b'] });
    await emulator.asUser('a', 'Android').sendC2C('b', text('from the new app'));
    await im.call('sendmsg', { From_Account: 'a', To_Account: 'b', MsgRandom: 5, MsgBody: text('from REST') });
    await emulator.callbacksDrained();
    expect(emulator.counters()).toMatchObject({ callbacksSent: 2, callbacksFailed: 0 });
    expect(delivered.map((d) => [d.command, d.optPlatform])).toEqual([
      ['C2C.CallbackAfterSendMsg', 'Android'],
      ['C2C.CallbackAfterSendMsg', 'RESTAPI'],
    ]);
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
});
