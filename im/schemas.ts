/**
 * IM's response bodies, one zod schema per API (../shared/docs/tencent-im-rest-api.md and
 * tencent-im-read-apis.md). Unknown extra fields are tolerated (IM adds fields over time);
 * numbers IM sometimes sends as strings are coerced.
 */
import { z } from 'zod';
import type { ImApiName } from './apis';

const int = z.coerce.number().int();

export const BaseResponse = z.object({
  ActionStatus: z.string(),
  ErrorCode: int,
  ErrorInfo: z.string().optional().default(''),
  ErrorDisplay: z.string().optional(),
});
export type BaseResponse = z.infer<typeof BaseResponse>;

const TagValue = z.object({ Tag: z.string(), Value: z.unknown() });
const MemberResult = z.object({ Member_Account: z.string(), Result: int });
const RoamMsg = z.object({
  From_Account: z.string(),
  To_Account: z.string(),
  MsgSeq: int,
  MsgRandom: int,
  MsgTimeStamp: int,
  MsgFlagBits: int.optional(),
  MsgKey: z.string(),
  MsgBody: z.array(z.unknown()),
  CloudCustomData: z.string().optional(),
});
const GroupMember = z.object({
  Member_Account: z.string(),
  // One doc example shows "Member " with a trailing space.
  Role: z
    .string()
    .transform((r) => r.trim())
    .optional(),
  JoinTime: int.optional(),
  MsgSeq: int.optional(),
  MsgFlag: z.string().optional(),
  LastSendMsgTime: int.optional(),
  MuteUntil: int.optional(),
  NameCard: z.string().optional(),
});

export const RESPONSE_SCHEMAS = {
  multiaccount_import: BaseResponse.extend({ FailAccounts: z.array(z.string()).optional().default([]) }),
  account_import: BaseResponse,
  portrait_set: BaseResponse,
  friend_import: BaseResponse.extend({
    ResultItem: z
      .array(z.object({ To_Account: z.string(), ResultCode: int, ResultInfo: z.string().optional() }))
      .optional()
      .default([]),
    Fail_Account: z.array(z.string()).optional().default([]),
  }),
  importmsg: BaseResponse,
  admin_set_msg_read: BaseResponse,
  import_group: BaseResponse.extend({ GroupId: z.string().optional() }),
  import_group_member: BaseResponse.extend({ MemberList: z.array(MemberResult).optional().default([]) }),
  import_group_msg: BaseResponse.extend({
    ImportMsgResult: z
      .array(z.object({ Result: int, MsgSeq: int.optional(), MsgTime: int.optional() }))
      .optional()
      .default([]),
  }),
  set_unread_msg_num: BaseResponse,
  sendmsg: BaseResponse.extend({ MsgTime: int.optional(), MsgKey: z.string().optional(), MsgId: z.string().optional() }),
  create_group: BaseResponse.extend({ GroupId: z.string().optional() }),
  modify_group_base_info: BaseResponse,
  add_group_member: BaseResponse.extend({ MemberList: z.array(MemberResult).optional().default([]) }),
  delete_group_member: BaseResponse,
  send_group_msg: BaseResponse.extend({ MsgTime: int.optional(), MsgSeq: int.optional(), MsgDropReason: z.string().optional() }),
  destroy_group: BaseResponse,
  account_check: BaseResponse.extend({
    ResultItem: z
      .array(z.object({ UserID: z.string(), ResultCode: int, ResultInfo: z.string().optional(), AccountStatus: z.string().optional() }))
      .optional()
      .default([]),
  }),
  portrait_get: BaseResponse.extend({
    UserProfileItem: z
      .array(
        z.object({
          To_Account: z.string(),
          ProfileItem: z.array(TagValue).optional().default([]),
          ResultCode: int.optional().default(0),
          ResultInfo: z.string().optional(),
        }),
      )
      .optional()
      .default([]),
    Fail_Account: z.array(z.string()).optional().default([]),
  }),
  friend_get: BaseResponse.extend({
    UserDataItem: z
      .array(z.object({ To_Account: z.string(), ValueItem: z.array(TagValue).optional().default([]) }))
      .optional()
      .default([]),
    StandardSequence: int.optional(),
    CustomSequence: int.optional(),
    FriendNum: int.optional(),
    CompleteFlag: int.optional().default(1),
    NextStartIndex: int.optional().default(0),
  }),
  admin_getroammsg: BaseResponse.extend({
    Complete: int.optional().default(1),
    MsgCnt: int.optional().default(0),
    LastMsgTime: int.optional(),
    LastMsgKey: z.string().optional(),
    MsgList: z.array(RoamMsg).optional().default([]),
  }),
  get_group_info: BaseResponse.extend({
    GroupInfo: z
      .array(
        z.object({
          GroupId: z.string(),
          ErrorCode: int.optional().default(0),
          ErrorInfo: z.string().optional(),
          Type: z.string().optional(),
          Name: z.string().optional(),
          Introduction: z.string().optional(),
          Notification: z.string().optional(),
          FaceUrl: z.string().optional(),
          Owner_Account: z.string().optional(),
          CreateTime: int.optional(),
          LastMsgTime: int.optional(),
          NextMsgSeq: int.optional(),
          MemberNum: int.optional(),
          MaxMemberNum: int.optional(),
          ApplyJoinOption: z.string().optional(),
          // The 2022 server SDK model names it ShutUpAllMember (tencent-im-read-apis.md): both are read.
          MuteAllMember: z.enum(['On', 'Off']).optional(),
          ShutUpAllMember: z.enum(['On', 'Off']).optional(),
          AppDefinedData: z.array(z.object({ Key: z.string(), Value: z.string() })).optional(),
          MemberList: z.array(GroupMember).optional(),
        }),
      )
      .optional()
      .default([]),
  }),
  get_group_member_info: BaseResponse.extend({
    MemberNum: int.optional().default(0),
    MemberList: z.array(GroupMember).optional().default([]),
    Next: z.string().optional(),
  }),
  group_msg_get_simple: BaseResponse.extend({
    GroupId: z.string().optional(),
    IsFinished: int.optional().default(1),
    RspMsgList: z
      .array(
        z.object({
          From_Account: z.string(),
          IsPlaceMsg: int.optional().default(0),
          IsSystemMsg: int.optional().default(0),
          MsgRandom: int.optional(),
          MsgSeq: int,
          MsgTimeStamp: int,
          MsgBody: z.array(z.unknown()).optional().default([]),
        }),
      )
      .optional()
      .default([]),
  }),
} satisfies Record<ImApiName, z.ZodType>;

export type ImResponse<A extends ImApiName> = z.infer<(typeof RESPONSE_SCHEMAS)[A]>;
