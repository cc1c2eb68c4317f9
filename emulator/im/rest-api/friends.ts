/** Relationship chains: friend import and the friend list read back. */
import { z } from 'zod';
import { FRIEND_RULES } from '../../../im/messages';
import { ApiError, parse, tagValue, type Handlers } from './common';

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
const friendGetRequest = z.object({
  From_Account: z.string(),
  StartIndex: z.number().int().min(0),
  StandardSequence: z.number().int().optional(),
  CustomSequence: z.number().int().optional(),
});

export const friendHandlers = {
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
} satisfies Handlers;
