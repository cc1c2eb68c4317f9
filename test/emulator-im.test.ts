/**
 * The IM emulator checked with requests built from the Tencent docs alone — a hand-made UserSig
 * (HMAC-SHA256 over the documented string, JSON, zlib, URL-safe base64) and raw HTTP — so it
 * follows the docs, not only our client.
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { deflateSync } from 'node:zlib';
import { startImEmulator, type ImEmulator } from '../emulator/im';
import { callbackSign } from '../im/callbacks';

const SDKAPPID = 1400000777;
const KEY = 'doc-secret';
const ADMIN = 'administrator';

/** The documented algorithm, written out independently of im/usersig.ts. */
function handMadeUserSig(identifier: string, opts: { key?: string; sdkappid?: number; time?: number; expire?: number } = {}): string {
  const time = opts.time ?? Math.floor(Date.now() / 1000);
  const expire = opts.expire ?? 86400;
  const sdkappid = opts.sdkappid ?? SDKAPPID;
  const content = `TLS.identifier:${identifier}\nTLS.sdkappid:${sdkappid}\nTLS.time:${time}\nTLS.expire:${expire}\n`;
  const sig = createHmac('sha256', opts.key ?? KEY)
    .update(content)
    .digest('base64');
  const doc = {
    'TLS.ver': '2.0',
    'TLS.identifier': identifier,
    'TLS.sdkappid': sdkappid,
    'TLS.expire': expire,
    'TLS.time': time,
    'TLS.sig': sig,
  };
  return deflateSync(Buffer.from(JSON.stringify(doc)))
    .toString('base64')
    .replace(/\+/g, '*')
    .replace(/\//g, '-')
    .replace(/=/g, '_');
}

let emu: ImEmulator;
let receiver: Server;
const received: Array<{ query: URLSearchParams; body: Record<string, unknown> }> = [];

async function post(
  path: string,
  body: unknown,
  q: { identifier?: string; usersig?: string; sdkappid?: number; baseUrl?: string } = {},
): Promise<Record<string, any>> {
  const params = new URLSearchParams({
    sdkappid: String(q.sdkappid ?? SDKAPPID),
    identifier: q.identifier ?? ADMIN,
    usersig: q.usersig ?? handMadeUserSig(q.identifier ?? ADMIN),
    random: String(Math.floor(Math.random() * 4294967295)),
    contenttype: 'json',
  });
  const res = await fetch(`${q.baseUrl ?? emu.baseUrl}/v4/${path}?${params}`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, any>;
}
const text = (t: string) => [{ MsgType: 'TIMTextElem', MsgContent: { Text: t } }];
const importAccounts = (ids: string[]) => post('im_open_login_svc/multiaccount_import', { Accounts: ids });

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      received.push({ query: new URL(req.url!, 'http://x').searchParams, body: JSON.parse(data) });
      res.setHeader('content-type', 'application/json');
      res.end('{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const port = (receiver.address() as { port: number }).port;
  emu = await startImEmulator({
    sdkAppId: SDKAPPID,
    secretKey: KEY,
    admin: ADMIN,
    faults: { latencyMs: 0 },
    callbackUrl: `http://127.0.0.1:${port}/im`,
    callbackToken: 'tok',
  });
});
afterAll(async () => {
  await emu.close();
  await new Promise((r) => receiver.close(r));
});
beforeEach(() => {
  emu.reset();
  received.length = 0;
});

describe('authentication', () => {
  test('a UserSig made by the documented algorithm is accepted', async () => {
    expect(await importAccounts(['a'])).toMatchObject({ ActionStatus: 'OK', ErrorCode: 0 });
  });
  test('a forged UserSig is refused with 70009', async () => {
    expect(
      (await post('im_open_login_svc/account_import', { UserID: 'x' }, { usersig: handMadeUserSig(ADMIN, { key: 'wrong' }) })).ErrorCode,
    ).toBe(70009);
  });
  test('an expired UserSig is refused with 70001, an empty one with 70002, a wrong SDKAppID with 60006', async () => {
    expect(
      (
        await post(
          'im_open_login_svc/account_import',
          { UserID: 'x' },
          { usersig: handMadeUserSig(ADMIN, { time: 1600000000, expire: 60 }) },
        )
      ).ErrorCode,
    ).toBe(70001);
    expect((await post('im_open_login_svc/account_import', { UserID: 'x' }, { usersig: '' })).ErrorCode).toBe(70002);
    expect((await post('im_open_login_svc/account_import', { UserID: 'x' }, { sdkappid: 1400000001 })).ErrorCode).toBe(60006);
  });
  test('a valid UserSig of a non-admin account is refused with 60010', async () => {
    const r = await post(
      'im_open_login_svc/account_import',
      { UserID: 'x' },
      { identifier: 'someone', usersig: handMadeUserSig('someone') },
    );
    expect(r).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 60010 });
  });
  test('unknown APIs, bad JSON and GET get IM’s codes', async () => {
    expect((await post('nosuch/api', {})).ErrorCode).toBe(60009);
    expect((await post('openim/importmsg', '{broken')).ErrorCode).toBe(60003);
    const res = await fetch(`${emu.baseUrl}/v4/openim/importmsg`);
    expect(((await res.json()) as { ErrorCode: number }).ErrorCode).toBe(60002);
  });
});

describe('limits', () => {
  test('calls beyond an API’s rate are refused with 60007 and counted', async () => {
    emu.setLimits({ account_check: { callsPerSecond: 5 } });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => post('im_open_login_svc/account_check', { CheckItem: [{ UserID: 'a' }] })),
    );
    const refused = results.filter((r) => r.ErrorCode === 60007).length;
    expect(refused).toBeGreaterThanOrEqual(14);
    expect(emu.counters().rejectedForRate.account_check).toBe(refused);
    emu.setLimits({ account_check: { callsPerSecond: 100 } });
  });
  test('npm run emulator takes its limits from the tool’s TIM_RATE_<API> / TIM_BATCH_<API> settings', async () => {
    const run = (env: Record<string, string>) => {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'scripts/emulator.ts', '--sdkappid', String(SDKAPPID), '--admin', ADMIN, '--latency-ms', '0'],
        {
          env: { ...process.env, TIM_SECRET_KEY: KEY, ...env },
        },
      );
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (out += c));
      const firstLine = new Promise<string>((resolve) => {
        child.stdout.on('data', () => out.includes('\n') && resolve(out.split('\n')[0]));
        child.on('exit', () => resolve(out));
      });
      return { child, firstLine };
    };
    const bad = run({ TIM_RATE_IMPORTMSG: 'fast' });
    expect(await bad.firstLine).toMatch(/setting TIM_RATE_IMPORTMSG: expected a positive integer, got "fast"/);
    const good = run({ TIM_RATE_ACCOUNT_CHECK: '5', TIM_BATCH_MULTIACCOUNT_IMPORT: '150' });
    try {
      const baseUrl = await good.firstLine;
      expect(baseUrl).toMatch(/^http:/);
      const ids = Array.from({ length: 150 }, (_, i) => `acct${i}`);
      expect(await post('im_open_login_svc/multiaccount_import', { Accounts: ids }, { baseUrl })).toMatchObject({ ErrorCode: 0 });
      const results = await Promise.all(
        Array.from({ length: 20 }, () => post('im_open_login_svc/account_check', { CheckItem: [{ UserID: 'acct0' }] }, { baseUrl })),
      );
      expect(results.filter((r) => r.ErrorCode === 60007).length).toBeGreaterThanOrEqual(14);
    } finally {
      good.child.kill();
    }
  }, 30_000);
  test('more than 7 group messages in one call is refused with 10005', async () => {
    await importAccounts(['a']);
    await post('group_open_http_svc/import_group', { GroupId: 'g', Type: 'Public', Name: 'G', Owner_Account: 'a', CreateTime: 1600000000 });
    const MsgList = Array.from({ length: 8 }, (_, i) => ({ From_Account: 'a', SendTime: 1600000100 + i, Random: i, MsgBody: text('x') }));
    expect((await post('group_open_http_svc/import_group_msg', { GroupId: 'g', MsgList })).ErrorCode).toBe(10005);
  });
});

describe('IM data rules', () => {
  test('importmsg refuses accounts never imported and silently drops a duplicate triple', async () => {
    await importAccounts(['a', 'b']);
    const msg = {
      SyncFromOldSystem: 2,
      From_Account: 'a',
      To_Account: 'b',
      MsgSeq: 7,
      MsgRandom: 8,
      MsgTimeStamp: 1700000000,
      MsgBody: text('hi'),
    };
    expect((await post('openim/importmsg', msg)).ErrorCode).toBe(0);
    expect((await post('openim/importmsg', { ...msg, MsgBody: text('changed') })).ErrorCode).toBe(0);
    expect((await post('openim/importmsg', { ...msg, From_Account: 'b', To_Account: 'a' })).ErrorCode).toBe(0);
    expect((await post('openim/importmsg', { ...msg, To_Account: 'ghost' })).ErrorCode).toBe(90012);
    expect((await post('openim/importmsg', { ...msg, MsgBody: text('x'.repeat(13000)), MsgRandom: 9 })).ErrorCode).toBe(93000);
    expect((await post('openim/importmsg', { ...msg, SyncFromOldSystem: 1 })).ErrorCode).toBe(90030);
    const conv = emu.snapshot().conversations['a|b'];
    expect(conv).toHaveLength(1);
    expect(conv[0].body).toEqual(text('hi'));
  });

  test('import_group_msg needs strictly increasing times after the group’s creation, answers per message, and zeroes unread counts', async () => {
    await importAccounts(['a', 'b']);
    expect(
      (
        await post('group_open_http_svc/import_group', {
          GroupId: 'g',
          Type: 'Public',
          Name: 'G',
          Owner_Account: 'a',
          CreateTime: 1600000000,
        })
      ).GroupId,
    ).toBe('g');
    expect((await post('group_open_http_svc/import_group', { GroupId: 'g', Type: 'Public', Name: 'G' })).ErrorCode).toBe(10021);
    expect((await post('group_open_http_svc/import_group', { GroupId: 'live', Type: 'AVChatRoom', Name: 'L' })).ErrorCode).toBe(10007);
    const members = await post('group_open_http_svc/import_group_member', {
      GroupId: 'g',
      MemberList: [{ Member_Account: 'b', JoinTime: 1600000001, UnreadMsgNum: 5 }, { Member_Account: 'ghost' }, { Member_Account: 'a' }],
    });
    expect(members.MemberList).toEqual([
      { Member_Account: 'b', Result: 1 },
      { Member_Account: 'ghost', Result: 0 },
      { Member_Account: 'a', Result: 2 },
    ]);
    const r = await post('group_open_http_svc/import_group_msg', {
      GroupId: 'g',
      MsgList: [
        { From_Account: 'a', SendTime: 1600000100, Random: 1, MsgBody: text('1') },
        { From_Account: 'b', SendTime: 1600000100, Random: 2, MsgBody: text('same second') },
        { From_Account: 'b', SendTime: 1500000000, Random: 3, MsgBody: text('before creation') },
        { From_Account: 'a', SendTime: 1600000101, Random: 4, MsgBody: text('x'.repeat(13000)) },
        { From_Account: 'a', SendTime: 1600000102, Random: 5, MsgBody: text('2') },
      ],
    });
    expect(r.ImportMsgResult.map((x: { Result: number }) => x.Result)).toEqual([0, 10004, 10004, 80002, 0]);
    expect(r.ImportMsgResult[4].MsgSeq).toBe(2);
    await post('group_open_http_svc/set_unread_msg_num', { GroupId: 'g', Member_Account: 'b', UnreadMsgNum: 99 });
    const info = await post('group_open_http_svc/get_group_member_info', { GroupId: 'g' });
    const b = info.MemberList.find((m: { Member_Account: string }) => m.Member_Account === 'b');
    // Clamped to the group's 2 messages: read seq 0 of next seq 3.
    expect(b.MsgSeq).toBe(0);
    await post('group_open_http_svc/import_group_msg', {
      GroupId: 'g',
      MsgList: [{ From_Account: 'a', SendTime: 1600000200, Random: 6, MsgBody: text('3') }],
    });
    expect(emu.snapshot().groups.g.members.every((m) => m.unread === 0)).toBe(true);
  });

  test('friend_import answers per friend and portrait_set refuses unknown accounts and fields', async () => {
    await importAccounts(['a', 'b']);
    const r = await post('sns/friend_import', {
      From_Account: 'a',
      AddFriendItem: [
        { To_Account: 'b', AddSource: 'AddSource_Type_Web' },
        { To_Account: 'ghost', AddSource: 'AddSource_Type_Web' },
      ],
    });
    expect(r.ResultItem).toEqual([
      expect.objectContaining({ To_Account: 'b', ResultCode: 0 }),
      expect.objectContaining({ To_Account: 'ghost', ResultCode: 30003 }),
    ]);
    expect(r.Fail_Account).toEqual(['ghost']);
    expect(
      (await post('profile/portrait_set', { From_Account: 'ghost', ProfileItem: [{ Tag: 'Tag_Profile_IM_Nick', Value: 'x' }] })).ErrorCode,
    ).toBe(40003);
    expect(
      (await post('profile/portrait_set', { From_Account: 'a', ProfileItem: [{ Tag: 'Tag_Profile_Nope', Value: 'x' }] })).ErrorCode,
    ).toBe(40009);
  });
});

describe('the documented fields', () => {
  test('portrait_set takes every standard profile field the docs list', async () => {
    await importAccounts(['a']);
    const ProfileItem = [
      { Tag: 'Tag_Profile_IM_Nick', Value: 'Ann' },
      { Tag: 'Tag_Profile_IM_Gender', Value: 'Gender_Type_Female' },
      { Tag: 'Tag_Profile_IM_BirthDay', Value: 20190419 },
      { Tag: 'Tag_Profile_IM_Location', Value: 'x' },
      { Tag: 'Tag_Profile_IM_SelfSignature', Value: 'hello' },
      { Tag: 'Tag_Profile_IM_AllowType', Value: 'AllowType_Type_AllowAny' },
      { Tag: 'Tag_Profile_IM_Language', Value: 1 },
      { Tag: 'Tag_Profile_IM_Image', Value: 'https://example.com/a.png' },
      { Tag: 'Tag_Profile_IM_AdminForbidType', Value: 'AdminForbid_Type_SendOut' },
      { Tag: 'Tag_Profile_IM_Level', Value: 3 },
      { Tag: 'Tag_Profile_IM_Role', Value: 2 },
    ];
    expect(await post('profile/portrait_set', { From_Account: 'a', ProfileItem })).toMatchObject({ ErrorCode: 0 });
    const r = await post('profile/portrait_get', { To_Account: ['a'], TagList: ProfileItem.map((p) => p.Tag) });
    expect(r.UserProfileItem[0].ProfileItem).toEqual(ProfileItem);
    const badValue = [{ Tag: 'Tag_Profile_IM_AdminForbidType', Value: 'AdminForbid_Type_Sometimes' }];
    expect((await post('profile/portrait_set', { From_Account: 'a', ProfileItem: badValue })).ErrorCode).toBe(40605);
  });

  test('get_group_info answers every base field the docs list, and InfoSeq grows with each profile change', async () => {
    await importAccounts(['a']);
    await post('group_open_http_svc/import_group', { GroupId: 'g', Type: 'Public', Name: 'G', Owner_Account: 'a', CreateTime: 1600000000 });
    const info = async () => (await post('group_open_http_svc/get_group_info', { GroupIdList: ['g'] })).GroupInfo[0];
    const before = await info();
    const baseFields = [
      'Type',
      'Name',
      'Appid',
      'Introduction',
      'Notification',
      'FaceUrl',
      'Owner_Account',
      'CreateTime',
      'InfoSeq',
      'LastInfoTime',
    ].concat(['LastMsgTime', 'NextMsgSeq', 'MemberNum', 'MaxMemberNum', 'ApplyJoinOption', 'MuteAllMember', 'AppDefinedData']);
    expect(baseFields.filter((f) => !(f in before))).toEqual([]);
    expect(before).toMatchObject({ Appid: SDKAPPID, MuteAllMember: 'Off', LastInfoTime: 1600000000 });
    await post('group_open_http_svc/modify_group_base_info', { GroupId: 'g', MuteAllMember: 'On' });
    await post('group_open_http_svc/modify_group_base_info', { GroupId: 'g', Name: 'G2' });
    const after = await info();
    expect(after).toMatchObject({ MuteAllMember: 'On', Name: 'G2', InfoSeq: before.InfoSeq + 2 });
    expect(after.LastInfoTime).toBeGreaterThan(1600000000);
  });

  test('optional fields that server SDKs send as 0 or null are taken as absent', async () => {
    await importAccounts(['a', 'b']);
    const startS = Math.floor(Date.now() / 1000);
    // CreateTime 0 is the request time, not 1970: history before it is refused.
    await post('group_open_http_svc/import_group', { GroupId: 'g', Type: 'Public', Name: 'G', Owner_Account: 'a', CreateTime: 0 });
    expect(emu.snapshot().groups.g.createTime).toBeGreaterThanOrEqual(startS);
    const old = await post('group_open_http_svc/import_group_msg', {
      GroupId: 'g',
      MsgList: [{ From_Account: 'a', SendTime: 1600000100, Random: 1, MsgBody: text('old') }],
    });
    expect(old.ImportMsgResult[0].Result).toBe(10004);
    await post('group_open_http_svc/add_group_member', { GroupId: 'g', MemberList: [{ Member_Account: 'b' }] });
    await post('group_open_http_svc/send_group_msg', { GroupId: 'g', Random: 2, MsgBody: text('1') });
    await post('group_open_http_svc/send_group_msg', { GroupId: 'g', Random: 3, MsgBody: text('2') });
    // MemberInfoFilter null: every field, as when it is left out.
    const members = await post('group_open_http_svc/get_group_member_info', { GroupId: 'g', MemberInfoFilter: null });
    expect(members.ErrorCode).toBe(0);
    expect(members.MemberList[0]).toMatchObject({
      Member_Account: 'a',
      Role: 'Owner',
      JoinTime: expect.any(Number),
      MsgSeq: expect.any(Number),
    });
    const filtered = await post('group_open_http_svc/get_group_member_info', { GroupId: 'g', MemberInfoFilter: ['Role'] });
    expect(filtered.MemberList[0]).toEqual({ Member_Account: 'a', Role: 'Owner' });
    // ReqMsgSeq 0: the newest messages, as when it is left out.
    const newest = await post('group_open_http_svc/group_msg_get_simple', { GroupId: 'g', ReqMsgNumber: 20, ReqMsgSeq: 0 });
    expect(newest.RspMsgList.map((m: { MsgSeq: number }) => m.MsgSeq)).toEqual([2, 1]);
  });
});

describe('callbacks', () => {
  test('sendmsg fires C2C.CallbackAfterSendMsg with RESTAPI and a valid Sign; ForbidAfterSendMsgCallback and imports fire none', async () => {
    await importAccounts(['a', 'b']);
    await post('openim/sendmsg', { From_Account: 'a', To_Account: 'b', MsgRandom: 1, MsgBody: text('hi'), CloudCustomData: 'origin' });
    await post('openim/sendmsg', {
      From_Account: 'a',
      To_Account: 'b',
      MsgRandom: 2,
      MsgBody: text('quiet'),
      ForbidCallbackControl: ['ForbidAfterSendMsgCallback'],
    });
    await post('openim/importmsg', {
      SyncFromOldSystem: 2,
      From_Account: 'a',
      To_Account: 'b',
      MsgRandom: 3,
      MsgTimeStamp: 1700000000,
      MsgBody: text('old'),
    });
    await emu.callbacksDrained();
    expect(received).toHaveLength(1);
    const { query, body } = received[0];
    expect(query.get('CallbackCommand')).toBe('C2C.CallbackAfterSendMsg');
    expect(query.get('SdkAppid')).toBe(String(SDKAPPID));
    expect(query.get('OptPlatform')).toBe('RESTAPI');
    expect(query.get('contenttype')).toBe('json');
    expect(query.get('ClientIP')).toBeTruthy();
    expect(query.get('Sign')).toBe(callbackSign('tok', query.get('RequestTime')!));
    expect(body).toMatchObject({
      CallbackCommand: 'C2C.CallbackAfterSendMsg',
      From_Account: 'a',
      To_Account: 'b',
      MsgRandom: 1,
      CloudCustomData: 'origin',
      MsgBody: text('hi'),
    });
  });

  test('group management through REST comes back with Operator_Account = admin; an App user’s actions carry the client platform', async () => {
    await importAccounts(['a', 'b', 'c']);
    await post('group_open_http_svc/create_group', { GroupId: 'g', Type: 'Public', Name: 'G', Owner_Account: 'a' });
    await post('group_open_http_svc/add_group_member', { GroupId: 'g', MemberList: [{ Member_Account: 'b' }] });
    await emu.asUser('c', 'Android').joinGroup('g');
    await emu.asUser('b').sendGroupMsg('g', text('hello') as never);
    await emu.asUser('a').changeGroupProfile('g', { Name: 'New' });
    await post('group_open_http_svc/delete_group_member', { GroupId: 'g', MemberToDel_Account: ['c'] });
    await post('group_open_http_svc/destroy_group', { GroupId: 'g' });
    await emu.callbacksDrained();
    expect(received.map((r) => [r.query.get('CallbackCommand'), r.query.get('OptPlatform'), r.body.Operator_Account ?? null])).toEqual([
      ['Group.CallbackAfterCreateGroup', 'RESTAPI', ADMIN],
      ['Group.CallbackAfterNewMemberJoin', 'RESTAPI', ADMIN],
      ['Group.CallbackAfterNewMemberJoin', 'Android', 'c'],
      ['Group.CallbackAfterSendMsg', 'iOS', 'b'],
      ['Group.CallbackAfterGroupInfoChanged', 'iOS', 'a'],
      ['Group.CallbackAfterMemberExit', 'RESTAPI', ADMIN],
      ['Group.CallbackAfterGroupDestroyed', 'RESTAPI', null],
    ]);
  });
});

describe('fault injection', () => {
  test('injected retryable errors and 502s do not apply the write', async () => {
    emu.setFaults({ retryableErrorRate: 1 });
    expect((await importAccounts(['a'])).ErrorCode).toBe(70500);
    emu.setFaults({ retryableErrorRate: 0, http5xxRate: 1 });
    const res = await fetch(
      `${emu.baseUrl}/v4/im_open_login_svc/account_import?sdkappid=${SDKAPPID}&identifier=${ADMIN}&usersig=${handMadeUserSig(ADMIN)}&random=1&contenttype=json`,
      { method: 'POST', body: '{"UserID":"a"}' },
    );
    expect(res.status).toBe(502);
    emu.setFaults({ http5xxRate: 0 });
    expect(emu.snapshot().accounts.map((a) => a.id)).toEqual([ADMIN]);
    expect(emu.counters().faultsInjected).toMatchObject({ retryable: 1, http5xx: 1 });
  });
});
