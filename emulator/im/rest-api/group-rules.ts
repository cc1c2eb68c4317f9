/** The group rules the REST handlers and the emulator's client actions share: lookup, creation, messages, profile changes. */
import { z } from 'zod';
import { GROUP_NOT_FOUND_CODE, imErrorInfo } from '../../../im/errors';
import {
  GROUP_FIELD_MAX_BYTES,
  GROUP_RANDOM_DUPLICATE_SECONDS,
  GROUP_TYPES,
  isValidGroupId,
  utf8Bytes,
  type MsgBody as MsgBodyType,
} from '../../../im/messages';
import type { Group, GroupMember } from '../state';
import { ApiError, keyValue, unsetAsAbsent, type ApiContext } from './common';

export function requireGroup(ctx: ApiContext, groupId: string): Group {
  const group = ctx.state.groups.get(groupId);
  if (!group) throw new ApiError(GROUP_NOT_FOUND_CODE, imErrorInfo(GROUP_NOT_FOUND_CODE));
  return group;
}

export function requireImportableGroup(ctx: ApiContext, groupId: string): Group {
  const group = requireGroup(ctx, groupId);
  if (group.type === 'AVChatRoom') throw new ApiError(10007, 'this group type does not support the operation');
  return group;
}

/** Group messages (send_group_msg and client sends) share sequencing and callbacks. */
export function appendGroupMessage(
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
export function recentWithRandom(group: Group, random: number, time: number) {
  for (let i = group.messages.length - 1; i >= 0 && group.messages[i].time >= time - GROUP_RANDOM_DUPLICATE_SECONDS; i--) {
    if (group.messages[i].random === random) return group.messages[i];
  }
  return undefined;
}

export function checkGroupFields(fields: { Name?: string; Introduction?: string; Notification?: string; FaceUrl?: string }): void {
  for (const [field, max] of Object.entries(GROUP_FIELD_MAX_BYTES)) {
    const value = fields[field as keyof typeof fields];
    if (value !== undefined && utf8Bytes(value) > max) throw new ApiError(10004, `${field} longer than ${max} bytes`);
  }
}

export const importGroupSchema = z.object({
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
export function createGroup(
  ctx: ApiContext,
  req: z.infer<typeof importGroupSchema>,
  opts: { existsCode: number; createTime: number },
): Group {
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

export function memberInfo(m: GroupMember) {
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
