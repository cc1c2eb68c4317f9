/**
 * What each IM REST API does to the emulator's state, with IM's documented rules and error codes
 * (../shared/docs/tencent-im-rest-api.md, tencent-im-read-apis.md). Requests are parsed with
 * schemas written here from the docs, independently of the client in im/.
 */
import { z } from 'zod';
import type { ImApiName } from '../../im/apis';
import { CALLBACK_COMMANDS, FORBID_AFTER_SEND_CALLBACK, REST_API_PLATFORM } from '../../im/callbacks';
import { GROUP_NOT_FOUND_CODE, imErrorInfo } from '../../im/errors';
import {
  CUSTOM_PROFILE_TAG_PATTERN,
  FRIEND_RULES,
  GROUP_FIELD_MAX_BYTES,
  GROUP_RANDOM_DUPLICATE_SECONDS,
  GROUP_TYPES,
  isValidGroupId,
  isValidUserId,
  MAX_MESSAGE_BYTES,
  messageBytes,
  MsgBody,
  PROFILE_TAGS,
  PROFILE_VALUE_MAX_BYTES,
  SYNC_FROM_OLD_SYSTEM,
  utf8Bytes,
  type MsgBody as MsgBodyType,
} from '../../im/messages';
import { ImState, type Group, type GroupMember } from './state';

/** An IM error answer: HTTP 200, ActionStatus FAIL, this ErrorCode. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    info?: string,
  ) {
    super(info ?? '');
  }
}

export interface EmittedCallback {
  command: string;
  platform: string;
  body: Record<string, unknown>;
}

export interface ApiContext {
  state: ImState;
  admin: string;
  nowS: number;
  emit(cb: EmittedCallback): void;
}

type Handler = (body: unknown, ctx: ApiContext) => Record<string, unknown>;

function parse<T extends z.ZodType>(schema: T, body: unknown, code: number): z.infer<T> {
  const r = schema.safeParse(body);
  if (!r.success) throw new ApiError(code, `invalid parameters: ${r.error.issues[0]?.path.join('.')} ${r.error.issues[0]?.message}`);
  return r.data;
}

const uint32 = z.number().int().min(0).max(0xffffffff);
/**
 * An optional field that server SDKs serialising a whole request class send as 0 or null when unset
 * (CreateTime: 0, MemberInfoFilter: null, ReqMsgSeq: 0). The docs say only "optional"; we read such
 * a value as absent, the safer reading: CreateTime 0 is "now", not 1970; ReqMsgSeq 0 is "the newest".
 */
const unsetAsAbsent = <T extends z.ZodType>(schema: T, unset: 0 | null) =>
  z.preprocess((v) => (v === unset ? undefined : v), schema.optional());
const tagValue = z.object({ Tag: z.string(), Value: z.union([z.string(), z.number()]) });
const keyValue = z.object({ Key: z.string(), Value: z.string() });
const bodySchema = MsgBody;

function msgKey(seq: number, random: number, time: number): string {
  return `${seq}_${random}_${time}`;
}

function requireGroup(ctx: ApiContext, groupId: string): Group {
  const group = ctx.state.groups.get(groupId);
  if (!group) throw new ApiError(GROUP_NOT_FOUND_CODE, imErrorInfo(GROUP_NOT_FOUND_CODE));
  return group;
}

function requireImportableGroup(ctx: ApiContext, groupId: string): Group {
  const group = requireGroup(ctx, groupId);
  if (group.type === 'AVChatRoom') throw new ApiError(10007, 'this group type does not support the operation');
  return group;
}

function memberList(list: Iterable<string>) {
  return [...list].map((Member_Account) => ({ Member_Account }));
}

function groupBody(group: Group) {
  return { GroupId: group.groupId, Type: group.type };
}

/** Group messages (send_group_msg and client sends) share sequencing and callbacks. */
function appendGroupMessage(
  ctx: ApiContext,
  group: Group,
  msg: { from: string; time: number; random: number; body: MsgBodyType; cloudCustomData?: string; via: string },
) {
  const seq = group.nextSeq++;
  group.messages.push({ seq, ...msg });
  group.lastMsgTime = Math.max(group.lastMsgTime, msg.time);
  // The sender has read its own message.
  const sender = group.members.get(msg.from);
  if (sender) sender.readSeq = seq;
  return seq;
}

/** The group's message with this Random in the 5 minutes up to `time`, if any (messages are in time order). */
function recentWithRandom(group: Group, random: number, time: number) {
  for (let i = group.messages.length - 1; i >= 0 && group.messages[i].time >= time - GROUP_RANDOM_DUPLICATE_SECONDS; i--) {
    if (group.messages[i].random === random) return group.messages[i];
  }
  return undefined;
}

function checkGroupFields(fields: { Name?: string; Introduction?: string; Notification?: string; FaceUrl?: string }): void {
  for (const [field, max] of Object.entries(GROUP_FIELD_MAX_BYTES)) {
    const value = fields[field as keyof typeof fields];
    if (value !== undefined && utf8Bytes(value) > max) throw new ApiError(10004, `${field} longer than ${max} bytes`);
  }
}

const STANDARD_PROFILE_TAGS = new Map<string, (typeof PROFILE_TAGS)[keyof typeof PROFILE_TAGS]>(
  Object.values(PROFILE_TAGS).map((t) => [t.tag, t]),
);

const importGroupSchema = z.object({
  Owner_Account: z.string().optional(),
  Type: z.string(),
  GroupId: z.string().optional(),
  Name: z.string().min(1),
  Introduction: z.string().optional(),
  Notification: z.string().optional(),
  FaceUrl: z.string().optional(),
  MaxMemberCount: z.number().int().positive().optional(),
  ApplyJoinOption: z.string().optional(),
  CreateTime: unsetAsAbsent(z.number().int(), 0),
  AppDefinedData: z.array(keyValue).optional(),
  MemberList: z.array(z.object({ Member_Account: z.string(), Role: z.string().optional() })).optional(),
});

/** Create a group (import_group, create_group, or a client) with its owner as the first member. */
function createGroup(ctx: ApiContext, req: z.infer<typeof importGroupSchema>, opts: { existsCode: number; createTime: number }): Group {
  if (!(GROUP_TYPES as readonly string[]).includes(req.Type)) throw new ApiError(10004, `unknown group type ${req.Type}`);
  checkGroupFields(req);
  if (req.GroupId !== undefined) {
    if (!isValidGroupId(req.GroupId, req.Type as never)) throw new ApiError(10015, 'invalid GroupId');
    if (ctx.state.groups.has(req.GroupId)) throw new ApiError(opts.existsCode, 'GroupId is already in use');
  }
  if (req.Owner_Account !== undefined && !ctx.state.hasAccount(req.Owner_Account))
    throw new ApiError(10019, 'owner account does not exist');
  const groupId = req.GroupId ?? ctx.state.newGroupId();
  const group: Group = {
    groupId,
    type: req.Type,
    owner: req.Owner_Account,
    name: req.Name,
    introduction: req.Introduction ?? '',
    notification: req.Notification ?? '',
    faceUrl: req.FaceUrl ?? '',
    maxMemberCount: req.MaxMemberCount ?? 2000,
    applyJoinOption: req.ApplyJoinOption ?? 'NeedPermission',
    createTime: opts.createTime,
    // Creation is the profile's first version (IM's starting InfoSeq is not documented).
    infoSeq: 1,
    lastInfoTime: opts.createTime,
    muteAllMember: 'Off',
    appDefinedData: new Map((req.AppDefinedData ?? []).map((kv) => [kv.Key, kv.Value])),
    members: new Map(),
    messages: [],
    nextSeq: 1,
    lastMsgTime: 0,
    recentRandoms: new Map(),
  };
  if (req.Owner_Account)
    group.members.set(req.Owner_Account, { account: req.Owner_Account, role: 'Owner', joinTime: opts.createTime, readSeq: 0 });
  ctx.state.groups.set(groupId, group);
  return group;
}

// Request schemas, built once: zod compiles a schema when it is made, which per call was most of the emulator's CPU.
const multiaccountImportRequest = z.union([
  z.object({ Accounts: z.array(z.string()) }),
  z.object({ AccountList: z.array(z.object({ UserID: z.string(), Nick: z.string().optional(), FaceUrl: z.string().optional() })) }),
]);
const accountImportRequest = z.object({ UserID: z.string(), Nick: z.string().optional(), FaceUrl: z.string().optional() });
const portraitSetRequest = z.object({ From_Account: z.string(), ProfileItem: z.array(tagValue).min(1) });
const friendImportRequest = z.object({
  From_Account: z.string(),
  AddFriendItem: z
    .array(
      z.object({
        To_Account: z.string(),
        Remark: z.string().optional(),
        RemarkTime: z.number().int().optional(),
        GroupName: z.array(z.string()).optional(),
        AddSource: z.string(),
        AddWording: z.string().optional(),
        AddTime: z.number().int().optional(),
        CustomItem: z.array(tagValue).optional(),
      }),
    )
    .min(1),
});
const importmsgRequest = z.object({
  SyncFromOldSystem: z.number().int(),
  From_Account: z.string(),
  To_Account: z.string(),
  MsgSeq: uint32.optional(),
  MsgRandom: uint32,
  MsgTimeStamp: z.number().int(),
  MsgBody: z.array(z.unknown()),
  CloudCustomData: z.string().optional(),
});
const adminSetMsgReadRequest = z.object({
  Report_Account: z.string(),
  Peer_Account: z.string(),
  MsgReadTime: z.union([z.number().int(), z.string().regex(/^\d+$/)]).optional(),
});
const importGroupMemberRequest = z.object({
  GroupId: z.string(),
  MemberList: z
    .array(
      z.object({
        Member_Account: z.string(),
        Role: z.literal('Admin').optional(),
        JoinTime: z.number().int().optional(),
        UnreadMsgNum: z.number().int().min(0).optional(),
      }),
    )
    .min(1),
});
const importGroupMsgRequest = z.object({
  GroupId: z.string(),
  RecentContactFlag: z.number().int().optional(),
  MsgList: z
    .array(z.object({ From_Account: z.string(), SendTime: z.number().int(), Random: uint32.optional(), MsgBody: z.array(z.unknown()) }))
    .min(1),
  TopicId: z.string().optional(),
});
const setUnreadMsgNumRequest = z.object({ GroupId: z.string(), Member_Account: z.string(), UnreadMsgNum: z.number().int().min(0) });
const sendmsgRequest = z.object({
  SyncOtherMachine: z.number().int().optional(),
  From_Account: z.string().optional(),
  To_Account: z.string(),
  MsgLifeTime: z.number().int().optional(),
  MsgSeq: uint32.optional(),
  MsgRandom: uint32,
  MsgBody: z.array(z.unknown()),
  CloudCustomData: z.string().optional(),
  ForbidCallbackControl: z.array(z.string()).optional(),
  SendMsgControl: z.array(z.string()).optional(),
});
const modifyGroupBaseInfoRequest = z.object({
  GroupId: z.string(),
  Name: z.string().min(1).optional(),
  Introduction: z.string().optional(),
  Notification: z.string().optional(),
  FaceUrl: z.string().optional(),
  MaxMemberNum: z.number().int().positive().optional(),
  ApplyJoinOption: z.string().optional(),
  MuteAllMember: z.enum(['On', 'Off']).optional(),
  AppDefinedData: z.array(keyValue).optional(),
});
const addGroupMemberRequest = z.object({
  GroupId: z.string(),
  Silence: z.number().int().optional(),
  MemberList: z.array(z.object({ Member_Account: z.string() })).min(1),
});
const deleteGroupMemberRequest = z.object({
  GroupId: z.string(),
  Silence: z.number().int().optional(),
  Reason: z.string().optional(),
  MemberToDel_Account: z.array(z.string()).min(1),
});
const sendGroupMsgRequest = z.object({
  GroupId: z.string(),
  Random: uint32,
  MsgBody: z.array(z.unknown()),
  From_Account: z.string().optional(),
  CloudCustomData: z.string().optional(),
  ForbidCallbackControl: z.array(z.string()).optional(),
  SendMsgControl: z.array(z.string()).optional(),
  OnlineOnlyFlag: z.number().int().optional(),
  MsgPriority: z.string().optional(),
});
const destroyGroupRequest = z.object({ GroupId: z.string() });
const accountCheckRequest = z.object({ CheckItem: z.array(z.object({ UserID: z.string() })).min(1) });
const portraitGetRequest = z.object({ To_Account: z.array(z.string()).min(1), TagList: z.array(z.string()).min(1) });
const friendGetRequest = z.object({
  From_Account: z.string(),
  StartIndex: z.number().int().min(0),
  StandardSequence: z.number().int().optional(),
  CustomSequence: z.number().int().optional(),
});
const adminGetroammsgRequest = z.object({
  Operator_Account: z.string(),
  Peer_Account: z.string(),
  MaxCnt: z.number().int().positive(),
  MinTime: z.number().int(),
  MaxTime: z.number().int(),
  LastMsgKey: z.string().optional(),
});
const getGroupInfoRequest = z.object({ GroupIdList: z.array(z.string()).min(1), ResponseFilter: z.unknown().optional() });
const getGroupMemberInfoRequest = z.object({
  GroupId: z.string(),
  Limit: z.number().int().positive().optional(),
  Offset: z.number().int().min(0).optional(),
  MemberInfoFilter: unsetAsAbsent(z.array(z.string()), null),
});
const groupMsgGetSimpleRequest = z.object({
  GroupId: z.string(),
  ReqMsgNumber: z.number().int().positive(),
  ReqMsgSeq: unsetAsAbsent(z.number().int(), 0),
  WithRecalledMsg: z.number().int().optional(),
});

export const REST_HANDLERS: Record<ImApiName, Handler> = {
  multiaccount_import(body, ctx) {
    const req = parse(multiaccountImportRequest, body, 70402);
    const items = 'Accounts' in req ? req.Accounts.map((UserID) => ({ UserID, Nick: undefined, FaceUrl: undefined })) : req.AccountList;
    const FailAccounts: string[] = [];
    for (const item of items) {
      if (!isValidUserId(item.UserID)) FailAccounts.push(item.UserID);
      // An existing account is not an error; AccountList updates its nick and avatar.
      else ctx.state.ensureAccount(item.UserID, item.Nick, item.FaceUrl);
    }
    return { FailAccounts };
  },

  account_import(body, ctx) {
    const req = parse(accountImportRequest, body, 70402);
    if (!isValidUserId(req.UserID)) throw new ApiError(70402, 'invalid UserID');
    ctx.state.ensureAccount(req.UserID, req.Nick, req.FaceUrl);
    return {};
  },

  portrait_set(body, ctx) {
    const req = parse(portraitSetRequest, body, 40001);
    const account = ctx.state.accounts.get(req.From_Account);
    if (!account) throw new ApiError(40003, 'requested account does not exist');
    for (const item of req.ProfileItem) {
      const known = STANDARD_PROFILE_TAGS.get(item.Tag);
      if (!known && !CUSTOM_PROFILE_TAG_PATTERN.test(item.Tag)) throw new ApiError(40009, `profile field ${item.Tag} does not exist`);
      if (typeof item.Value === 'string' && utf8Bytes(item.Value) > PROFILE_VALUE_MAX_BYTES)
        throw new ApiError(40601, `${item.Tag} longer than 500 bytes`);
      if (known?.kind === 'uint32' && typeof item.Value !== 'number') throw new ApiError(40610, `${item.Tag} must be an integer`);
      if (!known && typeof item.Value !== 'string') throw new ApiError(40610, `custom field ${item.Tag} must be a string`);
      if (known && 'values' in known && !(known.values as readonly string[]).includes(String(item.Value)))
        throw new ApiError(40605, `invalid value for ${item.Tag}`);
    }
    for (const item of req.ProfileItem) account.profile.set(item.Tag, item.Value);
    return {};
  },

  friend_import(body, ctx) {
    const req = parse(friendImportRequest, body, 30001);
    if (!ctx.state.hasAccount(req.From_Account)) throw new ApiError(30003, 'requested account does not exist');
    let list = ctx.state.friends.get(req.From_Account);
    if (!list) ctx.state.friends.set(req.From_Account, (list = new Map()));
    const ResultItem: Array<{ To_Account: string; ResultCode: number; ResultInfo: string }> = [];
    const Fail_Account: string[] = [];
    for (const item of req.AddFriendItem) {
      let code = 0;
      if (!ctx.state.hasAccount(item.To_Account)) code = 30003;
      else if (!FRIEND_RULES.addSourcePattern.test(item.AddSource)) code = 30001;
      else if (!list.has(item.To_Account) && list.size >= FRIEND_RULES.maxFriendsPerUser) code = 30010;
      if (code === 0) {
        // An existing friendship is overwritten with the imported fields (documented behaviour is UNCONFIRMED).
        list.set(item.To_Account, {
          to: item.To_Account,
          remark: item.Remark,
          groupNames: item.GroupName ?? [],
          addSource: item.AddSource,
          addWording: item.AddWording,
          addTime: item.AddTime ?? ctx.nowS,
          custom: new Map((item.CustomItem ?? []).map((c) => [c.Tag, c.Value])),
        });
      } else {
        Fail_Account.push(item.To_Account);
      }
      ResultItem.push({ To_Account: item.To_Account, ResultCode: code, ResultInfo: code ? 'Err_SNS_FriendImport_Failed' : '' });
    }
    return Fail_Account.length ? { ResultItem, Fail_Account } : { ResultItem };
  },

  importmsg(body, ctx) {
    const req = parse(importmsgRequest, body, 90001);
    if (req.SyncFromOldSystem !== SYNC_FROM_OLD_SYSTEM.history && req.SyncFromOldSystem !== SYNC_FROM_OLD_SYSTEM.realtime) {
      throw new ApiError(90030, 'SyncFromOldSystem must be 2 or 5');
    }
    const msgBody = parse(bodySchema, req.MsgBody, 90002);
    if (messageBytes(msgBody, req.CloudCustomData) > MAX_MESSAGE_BYTES) throw new ApiError(93000, 'JSON body too long, at most 12 KB');
    if (!ctx.state.hasAccount(req.From_Account)) throw new ApiError(90048, 'From_Account does not exist');
    if (!ctx.state.hasAccount(req.To_Account)) throw new ApiError(90012, 'To_Account is not imported');
    const seq = req.MsgSeq ?? Math.floor(Math.random() * 0xffffffff);
    const key = ImState.conversationKey(req.From_Account, req.To_Account);
    let triples = ctx.state.conversationTriples.get(key);
    if (!triples) ctx.state.conversationTriples.set(key, (triples = new Set()));
    const triple = `${seq}|${req.MsgRandom}|${req.MsgTimeStamp}`;
    // Duplicates within a conversation are dropped silently; the first import wins.
    if (triples.has(triple)) return {};
    triples.add(triple);
    ctx.state.addC2C({
      from: req.From_Account,
      to: req.To_Account,
      seq,
      random: req.MsgRandom,
      time: req.MsgTimeStamp,
      key: msgKey(seq, req.MsgRandom, req.MsgTimeStamp),
      body: msgBody,
      cloudCustomData: req.CloudCustomData,
      via: 'import',
    });
    return {};
  },

  admin_set_msg_read(body, ctx) {
    const req = parse(adminSetMsgReadRequest, body, 90001);
    if (!ctx.state.hasAccount(req.Report_Account)) throw new ApiError(90008, 'Report_Account does not exist');
    if (!ctx.state.hasAccount(req.Peer_Account)) throw new ApiError(90003, 'Peer_Account does not exist');
    ctx.state.readMarks.set(
      `${req.Report_Account}|${req.Peer_Account}`,
      req.MsgReadTime !== undefined ? Number(req.MsgReadTime) : ctx.nowS,
    );
    return {};
  },

  import_group(body, ctx) {
    const req = parse(importGroupSchema, body, 10004);
    if (req.Type === 'AVChatRoom') throw new ApiError(10007, 'AVChatRoom groups cannot be imported');
    if (req.CreateTime !== undefined && req.CreateTime > ctx.nowS) throw new ApiError(10004, 'CreateTime is in the future');
    const group = createGroup(ctx, { ...req, MemberList: undefined }, { existsCode: 10021, createTime: req.CreateTime ?? ctx.nowS });
    return { GroupId: group.groupId };
  },

  import_group_member(body, ctx) {
    const req = parse(importGroupMemberRequest, body, 10004);
    const group = requireImportableGroup(ctx, req.GroupId);
    const MemberList = req.MemberList.map((m) => {
      if (group.members.has(m.Member_Account)) return { Member_Account: m.Member_Account, Result: 2 };
      const joinTime = m.JoinTime ?? ctx.nowS;
      const ok = ctx.state.hasAccount(m.Member_Account) && joinTime > group.createTime && joinTime <= ctx.nowS;
      if (!ok) return { Member_Account: m.Member_Account, Result: 0 };
      const member: GroupMember = { account: m.Member_Account, role: m.Role ?? 'Member', joinTime, readSeq: group.nextSeq - 1 };
      group.members.set(m.Member_Account, member);
      if (m.UnreadMsgNum !== undefined) ctx.state.setUnread(group, member, m.UnreadMsgNum);
      return { Member_Account: m.Member_Account, Result: 1 };
    });
    return { MemberList };
  },

  import_group_msg(body, ctx) {
    const req = parse(importGroupMsgRequest, body, 10004);
    const group = requireImportableGroup(ctx, req.GroupId);
    const ImportMsgResult: Array<{ Result: number; MsgSeq?: number; MsgTime: number }> = [];
    let imported = false;
    for (const m of req.MsgList) {
      const parsed = bodySchema.safeParse(m.MsgBody);
      let result = 0;
      if (!parsed.success || !ctx.state.hasAccount(m.From_Account)) result = 10004;
      else if (messageBytes(parsed.data) > MAX_MESSAGE_BYTES) result = 80002;
      // Strictly increasing, after the group's creation and newest message, before now.
      else if (m.SendTime <= group.createTime || m.SendTime <= group.lastMsgTime || m.SendTime >= ctx.nowS) result = 10004;
      if (result !== 0 || !parsed.success) {
        ImportMsgResult.push({ Result: result, MsgTime: m.SendTime });
        continue;
      }
      // A Random the group saw within 5 minutes (of this message's time) is a duplicate: dropped,
      // answered with the first message (IM does not document the answer).
      const first = m.Random === undefined ? undefined : recentWithRandom(group, m.Random, m.SendTime);
      if (first) {
        ImportMsgResult.push({ Result: 0, MsgSeq: first.seq, MsgTime: first.time });
        continue;
      }
      const seq = appendGroupMessage(ctx, group, {
        from: m.From_Account,
        time: m.SendTime,
        random: m.Random ?? 0,
        body: parsed.data,
        via: 'import',
      });
      imported = true;
      ImportMsgResult.push({ Result: 0, MsgSeq: seq, MsgTime: m.SendTime });
    }
    // Importing messages resets every member's unread count to zero.
    if (imported) for (const member of group.members.values()) member.readSeq = group.nextSeq - 1;
    return { ImportMsgResult };
  },

  set_unread_msg_num(body, ctx) {
    const req = parse(setUnreadMsgNumRequest, body, 10004);
    const group = requireImportableGroup(ctx, req.GroupId);
    const member = group.members.get(req.Member_Account);
    if (!member) throw new ApiError(10004, 'not a member of the group');
    // Meeting (ChatRoom) groups keep no unread counts: the call succeeds and changes nothing.
    if (group.type !== 'ChatRoom') ctx.state.setUnread(group, member, req.UnreadMsgNum);
    return {};
  },

  sendmsg(body, ctx) {
    const req = parse(sendmsgRequest, body, 90001);
    const msgBody = parse(bodySchema, req.MsgBody, 90002);
    if (messageBytes(msgBody, req.CloudCustomData) > MAX_MESSAGE_BYTES) throw new ApiError(93000, 'JSON body too long, at most 12 KB');
    const from = req.From_Account ?? ctx.admin;
    if (!ctx.state.hasAccount(from)) throw new ApiError(20003, 'sender is not imported');
    if (!ctx.state.hasAccount(req.To_Account)) throw new ApiError(90012, 'To_Account is not imported');
    const seq = req.MsgSeq ?? Math.floor(Math.random() * 0xffffffff);
    const dupKey = `${from}|${seq}|${req.MsgRandom}|${JSON.stringify(msgBody)}`;
    const recent = ctx.state.recentSends.get(dupKey);
    // The same sender, MsgSeq, MsgRandom and content within 120 s is one message.
    if (recent && ctx.nowS - recent.time <= 120) return { MsgTime: recent.time, MsgKey: recent.key };
    const key = msgKey(seq, req.MsgRandom, ctx.nowS);
    ctx.state.recentSends.set(dupKey, { time: ctx.nowS, key });
    ctx.state.addC2C({
      from,
      to: req.To_Account,
      seq,
      random: req.MsgRandom,
      time: ctx.nowS,
      key,
      body: msgBody,
      cloudCustomData: req.CloudCustomData,
      via: 'rest',
    });
    if (!req.ForbidCallbackControl?.includes(FORBID_AFTER_SEND_CALLBACK)) {
      ctx.emit(c2cCallback(from, req.To_Account, seq, req.MsgRandom, ctx.nowS, key, msgBody, req.CloudCustomData, REST_API_PLATFORM));
    }
    return { MsgTime: ctx.nowS, MsgKey: key };
  },

  create_group(body, ctx) {
    const req = parse(importGroupSchema, body, 10004);
    if ((req.MemberList?.length ?? 0) > 100) throw new ApiError(10005, 'MemberList has more than 100 members');
    if (req.Type === 'AVChatRoom' && req.MemberList?.length) throw new ApiError(10007, 'AVChatRoom cannot have a MemberList');
    const missing = req.MemberList?.find((m) => !ctx.state.hasAccount(m.Member_Account));
    if (missing) throw new ApiError(10019, `${missing.Member_Account} does not exist`);
    const group = createGroup(ctx, req, { existsCode: 10025, createTime: ctx.nowS });
    for (const m of req.MemberList ?? []) {
      if (!group.members.has(m.Member_Account))
        group.members.set(m.Member_Account, {
          account: m.Member_Account,
          role: m.Role === 'Admin' ? 'Admin' : 'Member',
          joinTime: ctx.nowS,
          readSeq: 0,
        });
    }
    ctx.emit(createGroupCallback(group, ctx.admin, REST_API_PLATFORM));
    return { GroupId: group.groupId };
  },

  modify_group_base_info(body, ctx) {
    const req = parse(modifyGroupBaseInfoRequest, body, 10004);
    const group = requireGroup(ctx, req.GroupId);
    checkGroupFields(req);
    const changed = applyGroupProfile(group, req, ctx.nowS);
    if (Object.keys(changed).length) ctx.emit(infoChangedCallback(group, ctx.admin, changed, REST_API_PLATFORM));
    return {};
  },

  add_group_member(body, ctx) {
    const req = parse(addGroupMemberRequest, body, 10004);
    const group = requireImportableGroup(ctx, req.GroupId);
    const missing = req.MemberList.find((m) => !ctx.state.hasAccount(m.Member_Account));
    if (missing) throw new ApiError(10019, `${missing.Member_Account} does not exist`);
    const joined: string[] = [];
    const MemberList = req.MemberList.map((m) => {
      if (group.members.has(m.Member_Account)) return { Member_Account: m.Member_Account, Result: 2 };
      group.members.set(m.Member_Account, { account: m.Member_Account, role: 'Member', joinTime: ctx.nowS, readSeq: group.nextSeq - 1 });
      joined.push(m.Member_Account);
      return { Member_Account: m.Member_Account, Result: 1 };
    });
    if (joined.length) ctx.emit(memberJoinCallback(group, ctx.admin, joined, 'Invited', REST_API_PLATFORM));
    return { MemberList };
  },

  delete_group_member(body, ctx) {
    const req = parse(deleteGroupMemberRequest, body, 10004);
    const group = requireGroup(ctx, req.GroupId);
    if (group.type === 'AVChatRoom') throw new ApiError(10004, 'AVChatRoom members cannot be removed');
    const removed = req.MemberToDel_Account.filter((a) => group.members.delete(a));
    if (removed.length) ctx.emit(memberExitCallback(group, ctx.admin, removed, 'Kicked', REST_API_PLATFORM));
    return {};
  },

  send_group_msg(body, ctx) {
    const req = parse(sendGroupMsgRequest, body, 10004);
    const group = requireGroup(ctx, req.GroupId);
    const msgBody = parse(bodySchema, req.MsgBody, 10004);
    if (messageBytes(msgBody, req.CloudCustomData) > MAX_MESSAGE_BYTES) throw new ApiError(80002, 'message body too long, at most 12 KB');
    const from = req.From_Account ?? ctx.admin;
    if (!ctx.state.hasAccount(from)) throw new ApiError(10004, 'From_Account does not exist');
    // The same Random within 5 minutes is a duplicate: dropped, answered with the first message.
    const recent = group.recentRandoms.get(req.Random);
    if (recent && ctx.nowS - recent.time <= GROUP_RANDOM_DUPLICATE_SECONDS) return { MsgTime: recent.time, MsgSeq: recent.seq };
    const seq = appendGroupMessage(ctx, group, {
      from,
      time: ctx.nowS,
      random: req.Random,
      body: msgBody,
      cloudCustomData: req.CloudCustomData,
      via: 'rest',
    });
    group.recentRandoms.set(req.Random, { seq, time: ctx.nowS });
    if (!req.ForbidCallbackControl?.includes(FORBID_AFTER_SEND_CALLBACK)) {
      ctx.emit(groupMsgCallback(group, from, ctx.admin, req.Random, seq, ctx.nowS, msgBody, req.CloudCustomData, REST_API_PLATFORM));
    }
    return { MsgTime: ctx.nowS, MsgSeq: seq };
  },

  destroy_group(body, ctx) {
    const req = parse(destroyGroupRequest, body, 10004);
    const group = requireGroup(ctx, req.GroupId);
    ctx.state.groups.delete(req.GroupId);
    ctx.emit(destroyedCallback(group, REST_API_PLATFORM));
    return {};
  },

  account_check(body, ctx) {
    const req = parse(accountCheckRequest, body, 70402);
    return {
      ResultItem: req.CheckItem.map(({ UserID }) => ({
        UserID,
        ResultCode: 0,
        ResultInfo: '',
        AccountStatus: ctx.state.hasAccount(UserID) ? 'Imported' : 'NotImported',
      })),
    };
  },

  portrait_get(body, ctx) {
    const req = parse(portraitGetRequest, body, 40001);
    const Fail_Account: string[] = [];
    const UserProfileItem = req.To_Account.map((id) => {
      const account = ctx.state.accounts.get(id);
      if (!account) {
        Fail_Account.push(id);
        return { To_Account: id, ProfileItem: [], ResultCode: 40003, ResultInfo: 'Err_Profile_Account_Not_Exist' };
      }
      const ProfileItem = req.TagList.filter((t) => account.profile.has(t)).map((Tag) => ({ Tag, Value: account.profile.get(Tag) }));
      return { To_Account: id, ProfileItem, ResultCode: 0, ResultInfo: '' };
    });
    return Fail_Account.length ? { UserProfileItem, Fail_Account } : { UserProfileItem };
  },

  friend_get(body, ctx) {
    const req = parse(friendGetRequest, body, 30001);
    if (!ctx.state.hasAccount(req.From_Account)) throw new ApiError(30003, 'requested account does not exist');
    const all = [...(ctx.state.friends.get(req.From_Account)?.values() ?? [])];
    const pageSize = 100;
    const page = all.slice(req.StartIndex, req.StartIndex + pageSize);
    const next = req.StartIndex + page.length;
    return {
      UserDataItem: page.map((f) => ({
        To_Account: f.to,
        ValueItem: [
          { Tag: 'Tag_SNS_IM_AddSource', Value: f.addSource },
          ...(f.remark !== undefined ? [{ Tag: 'Tag_SNS_IM_Remark', Value: f.remark }] : []),
          ...(f.groupNames.length ? [{ Tag: 'Tag_SNS_IM_Group', Value: f.groupNames }] : []),
          ...(f.addWording !== undefined ? [{ Tag: 'Tag_SNS_IM_AddWording', Value: f.addWording }] : []),
          { Tag: 'Tag_SNS_IM_AddTime', Value: f.addTime },
          ...[...f.custom.entries()].map(([Tag, Value]) => ({ Tag, Value })),
        ],
      })),
      StandardSequence: all.length,
      CustomSequence: all.length,
      FriendNum: all.length,
      CompleteFlag: next >= all.length ? 1 : 0,
      NextStartIndex: next,
    };
  },

  admin_getroammsg(body, ctx) {
    const req = parse(adminGetroammsgRequest, body, 90001);
    if (!ctx.state.hasAccount(req.Operator_Account)) throw new ApiError(90008, 'Operator_Account does not exist');
    if (!ctx.state.hasAccount(req.Peer_Account)) throw new ApiError(90003, 'Peer_Account does not exist');
    const list = ctx.state.conversations.get(ImState.conversationKey(req.Operator_Account, req.Peer_Account)) ?? [];
    // Walk from newest to oldest: continue strictly before the last message returned.
    let end = list.length;
    if (req.LastMsgKey) {
      const i = list.findIndex((m) => m.key === req.LastMsgKey);
      end = i >= 0 ? i : end;
    }
    const inRange: typeof list = [];
    for (let i = end - 1; i >= 0 && inRange.length < req.MaxCnt; i--) {
      const m = list[i];
      if (m.time > req.MaxTime) continue;
      if (m.time < req.MinTime) break;
      inRange.push(m);
    }
    const oldest = inRange[inRange.length - 1];
    const moreBefore =
      oldest !== undefined && list.slice(0, list.indexOf(oldest)).some((m) => m.time >= req.MinTime && m.time <= req.MaxTime);
    inRange.reverse();
    return {
      Complete: moreBefore ? 0 : 1,
      MsgCnt: inRange.length,
      LastMsgTime: oldest?.time ?? 0,
      LastMsgKey: oldest?.key ?? '',
      MsgList: inRange.map((m) => ({
        From_Account: m.from,
        To_Account: m.to,
        MsgSeq: m.seq,
        MsgRandom: m.random,
        MsgTimeStamp: m.time,
        MsgFlagBits: 0,
        IsPeerRead: 0,
        MsgKey: m.key,
        MsgBody: m.body,
        CloudCustomData: m.cloudCustomData ?? '',
      })),
    };
  },

  get_group_info(body, ctx) {
    const req = parse(getGroupInfoRequest, body, 10004);
    return {
      GroupInfo: req.GroupIdList.map((GroupId) => {
        const g = ctx.state.groups.get(GroupId);
        if (!g) return { GroupId, ErrorCode: GROUP_NOT_FOUND_CODE, ErrorInfo: imErrorInfo(GROUP_NOT_FOUND_CODE) };
        return {
          GroupId,
          ErrorCode: 0,
          ErrorInfo: '',
          Type: g.type,
          Name: g.name,
          Appid: ctx.state.sdkAppId,
          Introduction: g.introduction,
          Notification: g.notification,
          FaceUrl: g.faceUrl,
          Owner_Account: g.owner ?? '',
          CreateTime: g.createTime,
          InfoSeq: g.infoSeq,
          LastInfoTime: g.lastInfoTime,
          LastMsgTime: g.lastMsgTime,
          NextMsgSeq: g.nextSeq,
          MemberNum: g.members.size,
          MaxMemberNum: g.maxMemberCount,
          ApplyJoinOption: g.applyJoinOption,
          MuteAllMember: g.muteAllMember,
          AppDefinedData: [...g.appDefinedData.entries()].map(([Key, Value]) => ({ Key, Value })),
          MemberList: [...g.members.values()].map((m) => memberInfo(m)),
        };
      }),
    };
  },

  get_group_member_info(body, ctx) {
    const req = parse(getGroupMemberInfoRequest, body, 10004);
    const group = requireImportableGroup(ctx, req.GroupId);
    const all = [...group.members.values()];
    const offset = req.Offset ?? 0;
    const page = all.slice(offset, req.Limit !== undefined ? offset + req.Limit : undefined);
    const filter = req.MemberInfoFilter;
    // A filter names the fields to return; Member_Account always comes back.
    const fields = (m: GroupMember) =>
      filter
        ? Object.fromEntries(Object.entries(memberInfo(m)).filter(([k]) => k === 'Member_Account' || filter.includes(k)))
        : memberInfo(m);
    return { MemberNum: all.length, MemberList: page.map(fields) };
  },

  group_msg_get_simple(body, ctx) {
    const req = parse(groupMsgGetSimpleRequest, body, 10004);
    const group = requireImportableGroup(ctx, req.GroupId);
    const maxSeq = req.ReqMsgSeq ?? group.nextSeq - 1;
    // Messages are stored in seq order: take the newest ReqMsgNumber at or below maxSeq, newest first.
    const upto = group.messages.filter((m) => m.seq <= maxSeq);
    const page = upto.slice(Math.max(0, upto.length - req.ReqMsgNumber)).reverse();
    return {
      GroupId: group.groupId,
      IsFinished: 1,
      RspMsgList: page.map((m) => ({
        From_Account: m.from,
        IsPlaceMsg: 0,
        IsSystemMsg: 0,
        MsgPriority: 2,
        MsgRandom: m.random,
        MsgSeq: m.seq,
        MsgTimeStamp: m.time,
        MsgBody: m.body,
      })),
    };
  },
};

function memberInfo(m: GroupMember) {
  return {
    Member_Account: m.account,
    Role: m.role,
    JoinTime: m.joinTime,
    MsgSeq: m.readSeq,
    MsgFlag: 'AcceptAndNotify',
    LastSendMsgTime: 0,
    MuteUntil: 0,
    NameCard: '',
  };
}

interface GroupProfileChange {
  Name?: string;
  Introduction?: string;
  Notification?: string;
  FaceUrl?: string;
  AppDefinedData?: Array<{ Key: string; Value: string }>;
  MaxMemberNum?: number;
  ApplyJoinOption?: string;
  MuteAllMember?: 'On' | 'Off';
}

/**
 * Applies a profile change; any change grows InfoSeq once. Returns the changed fields that fire
 * Group.CallbackAfterGroupInfoChanged (name, introduction, notification, face URL, custom data; not the settings).
 */
export function applyGroupProfile(group: Group, change: GroupProfileChange, nowS: number) {
  const changed: Record<string, unknown> = {};
  if (change.Name !== undefined && change.Name !== group.name) changed.Name = group.name = change.Name;
  if (change.Introduction !== undefined && change.Introduction !== group.introduction)
    changed.Introduction = group.introduction = change.Introduction;
  if (change.Notification !== undefined && change.Notification !== group.notification)
    changed.Notification = group.notification = change.Notification;
  if (change.FaceUrl !== undefined && change.FaceUrl !== group.faceUrl) changed.FaceUrl = group.faceUrl = change.FaceUrl;
  const data = (change.AppDefinedData ?? []).filter((kv) => group.appDefinedData.get(kv.Key) !== kv.Value);
  for (const kv of data) {
    if (kv.Value === '') group.appDefinedData.delete(kv.Key);
    else group.appDefinedData.set(kv.Key, kv.Value);
  }
  if (data.length) changed.UserDefinedDataList = data;
  const settingChanged =
    (change.MaxMemberNum !== undefined && change.MaxMemberNum !== group.maxMemberCount) ||
    (change.ApplyJoinOption !== undefined && change.ApplyJoinOption !== group.applyJoinOption) ||
    (change.MuteAllMember !== undefined && change.MuteAllMember !== group.muteAllMember);
  group.maxMemberCount = change.MaxMemberNum ?? group.maxMemberCount;
  group.applyJoinOption = change.ApplyJoinOption ?? group.applyJoinOption;
  group.muteAllMember = change.MuteAllMember ?? group.muteAllMember;
  if (settingChanged || Object.keys(changed).length) {
    group.infoSeq++;
    group.lastInfoTime = nowS;
  }
  return changed;
}

// Callback bodies, as documented in ../shared/docs/tencent-im-callbacks.md.
export function c2cCallback(
  from: string,
  to: string,
  seq: number,
  random: number,
  time: number,
  key: string,
  body: MsgBodyType,
  cloudCustomData: string | undefined,
  platform: string,
): EmittedCallback {
  return {
    command: CALLBACK_COMMANDS.c2cAfterSendMsg,
    platform,
    body: {
      From_Account: from,
      To_Account: to,
      MsgSeq: seq,
      MsgRandom: random,
      MsgTime: time,
      MsgKey: key,
      OnlineOnlyFlag: 0,
      SendMsgResult: 0,
      ErrorInfo: 'send msg succeed',
      UnreadMsgNum: 1,
      MsgBody: body,
      ...(cloudCustomData !== undefined ? { CloudCustomData: cloudCustomData } : {}),
    },
  };
}
export function createGroupCallback(group: Group, operator: string, platform: string): EmittedCallback {
  return {
    command: CALLBACK_COMMANDS.groupAfterCreate,
    platform,
    body: {
      ...groupBody(group),
      Operator_Account: operator,
      Owner_Account: group.owner ?? '',
      Name: group.name,
      MemberList: memberList(group.members.keys()),
      ...(group.appDefinedData.size
        ? { UserDefinedDataList: [...group.appDefinedData.entries()].map(([Key, Value]) => ({ Key, Value })) }
        : {}),
    },
  };
}
export function destroyedCallback(group: Group, platform: string): EmittedCallback {
  return {
    command: CALLBACK_COMMANDS.groupAfterDestroyed,
    platform,
    body: { ...groupBody(group), Owner_Account: group.owner ?? '', Name: group.name, MemberList: memberList(group.members.keys()) },
  };
}
export function infoChangedCallback(group: Group, operator: string, changed: Record<string, unknown>, platform: string): EmittedCallback {
  return {
    command: CALLBACK_COMMANDS.groupAfterInfoChanged,
    platform,
    body: { ...groupBody(group), Operator_Account: operator, ...changed },
  };
}
export function memberJoinCallback(
  group: Group,
  operator: string,
  members: string[],
  joinType: 'Apply' | 'Invited',
  platform: string,
): EmittedCallback {
  return {
    command: CALLBACK_COMMANDS.groupAfterMemberJoin,
    platform,
    body: { ...groupBody(group), JoinType: joinType, Operator_Account: operator, NewMemberList: memberList(members) },
  };
}
export function memberExitCallback(
  group: Group,
  operator: string,
  members: string[],
  exitType: 'Kicked' | 'Quit',
  platform: string,
): EmittedCallback {
  return {
    command: CALLBACK_COMMANDS.groupAfterMemberExit,
    platform,
    body: { ...groupBody(group), ExitType: exitType, Operator_Account: operator, ExitMemberList: memberList(members) },
  };
}
export function groupMsgCallback(
  group: Group,
  from: string,
  operator: string,
  random: number,
  seq: number,
  time: number,
  body: MsgBodyType,
  cloudCustomData: string | undefined,
  platform: string,
): EmittedCallback {
  return {
    command: CALLBACK_COMMANDS.groupAfterSendMsg,
    platform,
    body: {
      ...groupBody(group),
      From_Account: from,
      Operator_Account: operator,
      Random: random,
      MsgSeq: seq,
      MsgTime: time,
      OnlineOnlyFlag: 0,
      MsgBody: body,
      ...(cloudCustomData !== undefined ? { CloudCustomData: cloudCustomData } : {}),
    },
  };
}

export { appendGroupMessage, createGroup, requireGroup };
