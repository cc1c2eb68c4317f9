/**
 * IM callbacks (webhooks): the commands the two-way sync listens to, their bodies as documented,
 * and the token signature. Source: ../shared/docs/tencent-im-callbacks.md. The emulator sends
 * these; the gateway verifies and parses them.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { COMMUNITY_MAX_MEMBER_COUNT, USER_ID_MAX_BYTES, type GroupType } from './messages';

export const CALLBACK_COMMANDS = {
  c2cAfterSendMsg: 'C2C.CallbackAfterSendMsg',
  groupAfterCreate: 'Group.CallbackAfterCreateGroup',
  groupAfterDestroyed: 'Group.CallbackAfterGroupDestroyed',
  groupAfterInfoChanged: 'Group.CallbackAfterGroupInfoChanged',
  groupAfterMemberJoin: 'Group.CallbackAfterNewMemberJoin',
  groupAfterMemberExit: 'Group.CallbackAfterMemberExit',
  groupAfterSendMsg: 'Group.CallbackAfterSendMsg',
} as const;
export type CallbackCommand = (typeof CALLBACK_COMMANDS)[keyof typeof CALLBACK_COMMANDS];

/** `OptPlatform` of events caused through the REST API: the sync drops its own echoes by it. */
export const REST_API_PLATFORM = 'RESTAPI';
export const CLIENT_PLATFORMS = ['Web', 'Android', 'iOS', 'IOS', 'Windows', 'Mac', 'macOS', 'iPad', 'IPad', 'Unknown'] as const;

/** Per-message switch on sendmsg / send_group_msg that suppresses the after-send callback. */
export const FORBID_AFTER_SEND_CALLBACK = 'ForbidAfterSendMsgCallback';
export const FORBID_BEFORE_SEND_CALLBACK = 'ForbidBeforeSendMsgCallback';

/**
 * Callbacks may spell group types the console way (Work, Meeting) rather than the REST API's
 * (Private, ChatRoom); which one IM sends is UNCONFIRMED, so both are read.
 */
export const CALLBACK_GROUP_TYPE_ALIASES: Readonly<Record<string, GroupType>> = { Work: 'Private', Meeting: 'ChatRoom' };

/** IM rejects nothing here; a receiver treats a RequestTime more than this far off as a replay. */
export const CALLBACK_MAX_CLOCK_SKEW_S = 60;

/**
 * The largest callback body IM documents: Group.CallbackAfterGroupDestroyed (and AfterCreateGroup) list
 * every member, and a Community group has up to 100,000. Each `{"Member_Account":"…"},` holds a UserID
 * of at most 32 printable ASCII bytes, each at most 2 bytes once JSON-escaped; 64 KB covers the rest.
 */
export const LARGEST_CALLBACK_BODY_BYTES =
  COMMUNITY_MAX_MEMBER_COUNT * ('{"Member_Account":""},'.length + 2 * USER_ID_MAX_BYTES) + 64 * 1024;

/** The answer IM expects from a callback receiver. */
export const CALLBACK_OK = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' } as const;

/** Sign = lower-case hex SHA-256 of the token immediately followed by RequestTime (not an HMAC). */
export function callbackSign(token: string, requestTime: string | number): string {
  return createHash('sha256').update(`${token}${requestTime}`).digest('hex');
}

export type CallbackSignCheck = { ok: true } | { ok: false; reason: string };

export function verifyCallbackSign(
  token: string,
  sign: string | undefined,
  requestTime: string | undefined,
  nowS: number,
): CallbackSignCheck {
  if (!sign || !requestTime) return { ok: false, reason: 'Sign or RequestTime missing' };
  if (!/^\d+$/.test(requestTime)) return { ok: false, reason: 'RequestTime is not a Unix timestamp' };
  if (Math.abs(nowS - Number(requestTime)) > CALLBACK_MAX_CLOCK_SKEW_S)
    return { ok: false, reason: 'RequestTime is more than 1 minute off' };
  const want = Buffer.from(callbackSign(token, requestTime));
  const got = Buffer.from(sign.toLowerCase());
  if (want.length !== got.length || !timingSafeEqual(want, got)) return { ok: false, reason: 'Sign does not match' };
  return { ok: true };
}

// Bodies. Message timestamps are seconds; EventTime is milliseconds and sometimes a string.
const eventTime = z.coerce.number().optional();
const accountList = z.array(z.object({ Member_Account: z.string() }));
const msgBody = z.array(z.object({ MsgType: z.string(), MsgContent: z.record(z.string(), z.unknown()) }));
const keyValues = z.array(z.object({ Key: z.string(), Value: z.string() }));

export const C2CAfterSendMsg = z.object({
  CallbackCommand: z.literal(CALLBACK_COMMANDS.c2cAfterSendMsg),
  From_Account: z.string(),
  To_Account: z.string(),
  MsgSeq: z.coerce.number(),
  MsgRandom: z.coerce.number(),
  MsgTime: z.coerce.number(),
  MsgKey: z.string().optional(),
  MsgId: z.string().optional(),
  OnlineOnlyFlag: z.coerce.number().optional(),
  SendMsgResult: z.coerce.number().optional(),
  ErrorInfo: z.string().optional(),
  UnreadMsgNum: z.coerce.number().optional(),
  MsgBody: msgBody,
  CloudCustomData: z.string().optional(),
  EventTime: eventTime,
});
export const GroupAfterCreate = z.object({
  CallbackCommand: z.literal(CALLBACK_COMMANDS.groupAfterCreate),
  GroupId: z.string(),
  Operator_Account: z.string().optional(),
  Owner_Account: z.string().optional(),
  Type: z.string(),
  Name: z.string().optional(),
  MemberList: accountList.optional().default([]),
  UserDefinedDataList: keyValues.optional(),
  EventTime: eventTime,
});
export const GroupAfterDestroyed = z.object({
  CallbackCommand: z.literal(CALLBACK_COMMANDS.groupAfterDestroyed),
  GroupId: z.string(),
  Type: z.string().optional(),
  Owner_Account: z.string().optional(),
  Name: z.string().optional(),
  MemberList: accountList.optional().default([]),
  EventTime: eventTime,
});
export const GroupAfterInfoChanged = z.object({
  CallbackCommand: z.literal(CALLBACK_COMMANDS.groupAfterInfoChanged),
  GroupId: z.string(),
  Type: z.string().optional(),
  Operator_Account: z.string().optional(),
  Name: z.string().optional(),
  Introduction: z.string().optional(),
  Notification: z.string().optional(),
  FaceUrl: z.string().optional(),
  UserDefinedDataList: keyValues.optional(),
  EventTime: eventTime,
});
export const GroupAfterMemberJoin = z.object({
  CallbackCommand: z.literal(CALLBACK_COMMANDS.groupAfterMemberJoin),
  GroupId: z.string(),
  Type: z.string().optional(),
  JoinType: z.string().optional(),
  Operator_Account: z.string().optional(),
  NewMemberList: accountList,
  EventTime: eventTime,
});
export const GroupAfterMemberExit = z.object({
  CallbackCommand: z.literal(CALLBACK_COMMANDS.groupAfterMemberExit),
  GroupId: z.string(),
  Type: z.string().optional(),
  ExitType: z.string().optional(),
  Operator_Account: z.string().optional(),
  ExitMemberList: accountList,
  EventTime: eventTime,
});
export const GroupAfterSendMsg = z.object({
  CallbackCommand: z.literal(CALLBACK_COMMANDS.groupAfterSendMsg),
  GroupId: z.string(),
  Type: z.string().optional(),
  From_Account: z.string(),
  Operator_Account: z.string().optional(),
  Random: z.coerce.number().optional(),
  MsgSeq: z.coerce.number(),
  MsgTime: z.coerce.number(),
  MsgId: z.string().optional(),
  OnlineOnlyFlag: z.coerce.number().optional(),
  MsgBody: msgBody,
  CloudCustomData: z.string().optional(),
  EventTime: eventTime,
});

export const CallbackBody = z.discriminatedUnion('CallbackCommand', [
  C2CAfterSendMsg,
  GroupAfterCreate,
  GroupAfterDestroyed,
  GroupAfterInfoChanged,
  GroupAfterMemberJoin,
  GroupAfterMemberExit,
  GroupAfterSendMsg,
]);
export type CallbackBody = z.infer<typeof CallbackBody>;

/** The query parameters IM appends to the callback URL. */
export interface CallbackQuery {
  SdkAppid: string;
  CallbackCommand: string;
  contenttype: string;
  ClientIP: string;
  OptPlatform: string;
  Sign?: string;
  RequestTime?: string;
}
