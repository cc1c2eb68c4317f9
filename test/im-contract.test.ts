/**
 * Contract tests: every API through the real client against the real emulator — success, the
 * failures the emulator models with their error classes, per-item results, UserSig round trip,
 * rate limiting and transport failures.
 */
import { startImEmulator, type ImEmulator } from '../emulator/im';
import { IM_API_NAMES, resolveApiLimits } from '../im/apis';
import { ImClient } from '../im/client';
import { loadImConfig } from '../im/config';
import { loadTemporalSettings } from '../workers/settings';
import { ImError } from '../im/errors';
import type { MsgBody } from '../im/messages';
import { AdminUserSig, verifyUserSig } from '../im/usersig';

const IM = { sdkAppId: 1400000321, secretKey: 'contract-key', admin: 'administrator' };
const text = (t: string): MsgBody => [{ MsgType: 'TIMTextElem', MsgContent: { Text: t } }];

let emu: ImEmulator;
let im: ImClient;

beforeAll(async () => {
  emu = await startImEmulator({ ...IM, faults: { latencyMs: 0 } });
  im = new ImClient({ ...IM, baseUrl: emu.baseUrl });
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

async function imError(p: Promise<unknown>): Promise<ImError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ImError) return err;
    throw err;
  }
  throw new Error('expected an ImError');
}

test('every API of the mission answers through the client, writes and read-backs agree', async () => {
  const called = new Set<string>();
  const track = <T>(api: string, p: Promise<T>) => (called.add(api), p);
  expect(
    (
      await track(
        'multiaccount_import',
        im.multiaccountImport({ AccountList: [{ UserID: 'a', Nick: 'A' }, { UserID: 'b' }, { UserID: 'c' }] }),
      )
    ).every((o) => o.ok),
  ).toBe(true);
  await track('account_import', im.call('account_import', { UserID: 'd', Nick: 'D' }));
  await track(
    'portrait_set',
    im.call('portrait_set', {
      From_Account: 'a',
      ProfileItem: [
        { Tag: 'Tag_Profile_IM_Level', Value: 3 },
        { Tag: 'Tag_Profile_Custom_Hobby', Value: 'chess' },
      ],
    }),
  );
  expect(
    (
      await track(
        'friend_import',
        im.friendImport({ From_Account: 'a', AddFriendItem: [{ To_Account: 'b', AddSource: 'AddSource_Type_Web' }] }),
      )
    )[0].ok,
  ).toBe(true);
  await track(
    'importmsg',
    im.call('importmsg', {
      SyncFromOldSystem: 2,
      From_Account: 'a',
      To_Account: 'b',
      MsgSeq: 1,
      MsgRandom: 1,
      MsgTimeStamp: 1700000000,
      MsgBody: text('old'),
    }),
  );
  await track('admin_set_msg_read', im.call('admin_set_msg_read', { Report_Account: 'b', Peer_Account: 'a', MsgReadTime: 1700000000 }));
  expect(
    (
      await track(
        'import_group',
        im.call('import_group', { GroupId: 'g', Type: 'Public', Name: 'G', Owner_Account: 'a', CreateTime: 1600000000 }),
      )
    ).GroupId,
  ).toBe('g');
  expect(
    (
      await track(
        'import_group_member',
        im.importGroupMember({ GroupId: 'g', MemberList: [{ Member_Account: 'b', JoinTime: 1600000001, Role: 'Admin' }] }),
      )
    )[0].ok,
  ).toBe(true);
  expect(
    (
      await track(
        'import_group_msg',
        im.importGroupMsg({ GroupId: 'g', MsgList: [{ From_Account: 'a', SendTime: 1600000100, Random: 5, MsgBody: text('g1') }] }),
      )
    )[0],
  ).toMatchObject({ ok: true, msgSeq: 1 });
  await track('set_unread_msg_num', im.call('set_unread_msg_num', { GroupId: 'g', Member_Account: 'b', UnreadMsgNum: 1 }));
  expect(
    (
      await track(
        'sendmsg',
        im.call('sendmsg', { From_Account: 'a', To_Account: 'c', MsgRandom: 9, MsgBody: text('live'), SyncOtherMachine: 1 }),
      )
    ).MsgKey,
  ).toBeTruthy();
  expect(
    (await track('create_group', im.call('create_group', { GroupId: 'live', Type: 'Public', Name: 'Live', Owner_Account: 'c' }))).GroupId,
  ).toBe('live');
  await track('modify_group_base_info', im.call('modify_group_base_info', { GroupId: 'live', Name: 'Renamed' }));
  expect(
    (
      await track(
        'add_group_member',
        im.addGroupMember({ GroupId: 'live', MemberList: [{ Member_Account: 'a' }, { Member_Account: 'c' }] }),
      )
    ).map((o) => o.ok),
  ).toEqual([true, true]);
  await track('delete_group_member', im.call('delete_group_member', { GroupId: 'live', MemberToDel_Account: ['a'] }));
  expect(
    (await track('send_group_msg', im.call('send_group_msg', { GroupId: 'live', Random: 1, MsgBody: text('hi'), From_Account: 'c' })))
      .MsgSeq,
  ).toBe(1);
  await track('destroy_group', im.call('destroy_group', { GroupId: 'live' }));

  expect(await track('account_check', im.accountCheck(['a', 'zz']))).toEqual(
    new Map([
      ['a', true],
      ['zz', false],
    ]),
  );
  const profile = await track(
    'portrait_get',
    im.call('portrait_get', { To_Account: ['a'], TagList: ['Tag_Profile_IM_Nick', 'Tag_Profile_IM_Level', 'Tag_Profile_Custom_Hobby'] }),
  );
  expect(profile.UserProfileItem[0].ProfileItem).toEqual([
    { Tag: 'Tag_Profile_IM_Nick', Value: 'A' },
    { Tag: 'Tag_Profile_IM_Level', Value: 3 },
    { Tag: 'Tag_Profile_Custom_Hobby', Value: 'chess' },
  ]);
  called.add('friend_get');
  expect((await im.friendGetAll('a')).map((f) => f.To_Account)).toEqual(['b']);
  called.add('admin_getroammsg');
  expect((await im.roamingMessagesAll('b', 'a')).map((m) => m.MsgKey)).toEqual(['1_1_1700000000']);
  const info = await track('get_group_info', im.call('get_group_info', { GroupIdList: ['g', 'live'] }));
  expect(info.GroupInfo.map((g) => [g.GroupId, g.ErrorCode, g.NextMsgSeq])).toEqual([
    ['g', 0, 2],
    ['live', 10010, undefined],
  ]);
  called.add('get_group_member_info');
  expect((await im.groupMembersAll('g', 1)).map((m) => [m.Member_Account, m.Role])).toEqual([
    ['a', 'Owner'],
    ['b', 'Admin'],
  ]);
  called.add('group_msg_get_simple');
  expect((await im.groupMessagesAll('g')).map((m) => m.MsgSeq)).toEqual([1]);
  expect([...called].sort()).toEqual([...IM_API_NAMES].sort());
});

test('per-item failures come back classified and never dropped', async () => {
  const accounts = await im.multiaccountImport({ Accounts: ['ok1', 'not valid!'] });
  expect(accounts.map((o) => [o.id, o.ok])).toEqual([
    ['ok1', true],
    ['not valid!', false],
  ]);
  const friends = await im.friendImport({ From_Account: 'ok1', AddFriendItem: [{ To_Account: 'ghost', AddSource: 'AddSource_Type_Web' }] });
  expect(friends[0]).toMatchObject({ ok: false, code: 30003, errorClass: 'missing-reference' });
  await im.call('import_group', { GroupId: 'g', Type: 'Public', Name: 'G', Owner_Account: 'ok1', CreateTime: 1600000000 });
  const members = await im.importGroupMember({ GroupId: 'g', MemberList: [{ Member_Account: 'ghost' }] });
  expect(members[0]).toMatchObject({ ok: false, errorClass: 'missing-reference' });
  const msgs = await im.importGroupMsg({
    GroupId: 'g',
    MsgList: [{ From_Account: 'ok1', SendTime: 1500000000, MsgBody: text('too old') }],
  });
  expect(msgs[0]).toMatchObject({ ok: false, code: 10004, errorClass: 'invalid' });
});

test('IM errors carry their class', async () => {
  await im.multiaccountImport({ Accounts: ['a'] });
  expect(
    await imError(
      im.call('importmsg', {
        SyncFromOldSystem: 2,
        From_Account: 'a',
        To_Account: 'ghost',
        MsgRandom: 1,
        MsgTimeStamp: 1700000000,
        MsgBody: text('x'),
      }),
    ),
  ).toMatchObject({ code: 90012, errorClass: 'missing-reference' });
  expect(
    await imError(
      im.call('importmsg', {
        SyncFromOldSystem: 2,
        From_Account: 'a',
        To_Account: 'a',
        MsgRandom: 1,
        MsgTimeStamp: 1700000000,
        MsgBody: text('x'.repeat(13000)),
      }),
    ),
  ).toMatchObject({ code: 93000, errorClass: 'content-rejected' });
  await im.call('import_group', { GroupId: 'g', Type: 'Public', Name: 'G' });
  expect(await imError(im.call('import_group', { GroupId: 'g', Type: 'Public', Name: 'G' }))).toMatchObject({
    code: 10021,
    errorClass: 'already-exists',
  });
  expect(await imError(im.call('import_group', { Type: 'AVChatRoom', Name: 'L' }))).toMatchObject({ code: 10007, errorClass: 'invalid' });
  expect(
    await imError(
      im.call('import_group_member', { GroupId: 'g', MemberList: Array.from({ length: 21 }, (_, i) => ({ Member_Account: `m${i}` })) }),
    ),
  ).toMatchObject({ code: 10005, errorClass: 'batch-too-large' });
  const wrongKey = new ImClient({ ...IM, secretKey: 'not-the-key', baseUrl: emu.baseUrl });
  expect(await imError(wrongKey.call('account_check', { CheckItem: [{ UserID: 'a' }] }))).toMatchObject({
    code: 70009,
    errorClass: 'auth-config',
  });
});

test('rate-limited answers are classified for back-off, and the emulator counts them', async () => {
  emu.setLimits({ account_check: { callsPerSecond: 3 } });
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => im.accountCheck(['a'])));
  const limited = results.filter((r) => r.status === 'rejected' && (r.reason as ImError).errorClass === 'rate-limited');
  expect(limited.length).toBeGreaterThanOrEqual(6);
  expect(emu.counters().rejectedForRate.account_check).toBe(limited.length);
  emu.setLimits({ account_check: resolveApiLimits({}).account_check });
});

test('lost answers and 502s are retryable transport failures that never leak the UserSig', async () => {
  const quick = new ImClient({ ...IM, baseUrl: emu.baseUrl, timeoutMs: 3500 });
  emu.setFaults({ timeoutRate: 1 });
  const lost = await imError(quick.call('account_check', { CheckItem: [{ UserID: 'a' }] }));
  emu.setFaults({ timeoutRate: 0, http5xxRate: 1 });
  const bad = await imError(quick.call('account_check', { CheckItem: [{ UserID: 'a' }] }));
  emu.setFaults({ http5xxRate: 0 });
  for (const err of [lost, bad]) {
    expect(err.errorClass).toBe('retryable');
    expect(err.message).not.toMatch(/usersig|eJ/i);
  }
  expect(bad.message).toMatch(/HTTP 502/);
});

test('UserSig round trip: our admin UserSig verifies as IM verifies it', () => {
  const sig = new AdminUserSig(IM.sdkAppId, IM.secretKey, IM.admin).get();
  const nowS = Math.floor(Date.now() / 1000);
  expect(verifyUserSig(sig, { ...IM, identifier: IM.admin, nowS })).toEqual({
    ok: true,
    identifier: IM.admin,
    expiresAtS: expect.any(Number),
  });
  expect(verifyUserSig(sig, { ...IM, identifier: IM.admin, nowS: nowS + 2 * 86400 })).toMatchObject({ ok: false, code: 70001 });
  expect(verifyUserSig(sig, { ...IM, secretKey: 'other', identifier: IM.admin, nowS })).toMatchObject({ ok: false, code: 70009 });
  expect(verifyUserSig(sig, { ...IM, identifier: 'someone', nowS })).toMatchObject({ ok: false, code: 70013 });
});

test('IM settings name every bad setting and never echo the secret', () => {
  expect(() =>
    loadImConfig({
      TIM_SDKAPPID: 'abc',
      TIM_SECRET_KEY: 's3cr3t',
      TIM_ADMIN: 'bad admin!',
      TIM_REQUEST_TIMEOUT_MS: '2000',
      TIM_BATCH_IMPORTMSG: '5',
    }),
  ).toThrow(/TIM_SDKAPPID[\s\S]*TIM_ADMIN[\s\S]*TIM_REQUEST_TIMEOUT_MS[\s\S]*TIM_BATCH_IMPORTMSG/);
  try {
    loadImConfig({ TIM_SDKAPPID: 'abc', TIM_SECRET_KEY: 's3cr3t' });
  } catch (err) {
    expect(String(err)).not.toContain('s3cr3t');
  }
  const config = loadImConfig({
    TIM_SDKAPPID: '1400000000',
    TIM_SECRET_KEY: 'k',
    TIM_ADMIN: 'admin',
    TIM_BATCH_IMPORT_GROUP_MEMBER: '300',
  });
  expect(config.limits.import_group_member.maxItems).toBe(300);
  expect(config.accountImportShape).toBe('Accounts');
});

test('Temporal-side settings name every bad setting, and default to two workflow threads', () => {
  expect(() => loadTemporalSettings({ TEMPORAL_ADDRESS: 'no-port', TIM_WORKFLOW_THREADS: '0', TIM_ACTIVITY_CONCURRENCY: 'many' })).toThrow(
    /TEMPORAL_ADDRESS: expected host:port[\s\S]*TIM_ACTIVITY_CONCURRENCY[\s\S]*TIM_WORKFLOW_THREADS/,
  );
  expect(loadTemporalSettings({}).TIM_WORKFLOW_THREADS).toBe(2);
  expect(loadTemporalSettings({ TIM_WORKFLOW_THREADS: '4' }).TIM_WORKFLOW_THREADS).toBe(4);
});
