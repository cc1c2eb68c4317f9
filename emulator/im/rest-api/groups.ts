/** Groups: import (group, members, history, unread counts), live management and sends, and reads. */
import { z } from 'zod';
import { FORBID_AFTER_SEND_CALLBACK, REST_API_PLATFORM } from '../../../im/callbacks';
import { GROUP_NOT_FOUND_CODE, imErrorInfo } from '../../../im/errors';
import { GROUP_RANDOM_DUPLICATE_SECONDS, MAX_MESSAGE_BYTES, messageBytes } from '../../../im/messages';
import type { GroupMember } from '../state';
import {
  createGroupCallback,
  destroyedCallback,
  groupMsgCallback,
  infoChangedCallback,
  memberExitCallback,
  memberJoinCallback,
} from './callbacks';
import { ApiError, bodySchema, keyValue, parse, uint32, unsetAsAbsent, type Handlers } from './common';
import {
  appendGroupMessage,
  applyGroupProfile,
  checkGroupFields,
  createGroup,
  importGroupSchema,
  memberInfo,
  recentWithRandom,
  requireGroup,
  requireImportableGroup,
} from './group-rules';

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

export const groupHandlers = {
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
} satisfies Handlers;
