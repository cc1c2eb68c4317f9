/** The callbacks the emulator sends after REST writes and client actions, as IM sends them. */
import { CALLBACK_COMMANDS } from '../../../im/callbacks';
import type { MsgBody as MsgBodyType } from '../../../im/messages';
import type { Group } from '../state';
import type { EmittedCallback } from './common';

function memberList(list: Iterable<string>) {
  return [...list].map((Member_Account) => ({ Member_Account }));
}

function groupBody(group: Group) {
  return { GroupId: group.groupId, Type: group.type };
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
