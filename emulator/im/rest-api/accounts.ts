/** Accounts and profiles: import, check, and the profile fields. */
import { z } from 'zod';
import { CUSTOM_PROFILE_TAG_PATTERN, isValidUserId, PROFILE_TAGS, PROFILE_VALUE_MAX_BYTES, utf8Bytes } from '../../../im/messages';
import { ApiError, parse, tagValue, type Handlers } from './common';

const STANDARD_PROFILE_TAGS = new Map<string, (typeof PROFILE_TAGS)[keyof typeof PROFILE_TAGS]>(
  Object.values(PROFILE_TAGS).map((t) => [t.tag, t]),
);

const multiaccountImportRequest = z.union([
  z.object({ Accounts: z.array(z.string()) }),
  z.object({ AccountList: z.array(z.object({ UserID: z.string(), Nick: z.string().optional(), FaceUrl: z.string().optional() })) }),
]);
const accountImportRequest = z.object({ UserID: z.string(), Nick: z.string().optional(), FaceUrl: z.string().optional() });
const portraitSetRequest = z.object({ From_Account: z.string(), ProfileItem: z.array(tagValue).min(1) });
const accountCheckRequest = z.object({ CheckItem: z.array(z.object({ UserID: z.string() })).min(1) });
const portraitGetRequest = z.object({ To_Account: z.array(z.string()).min(1), TagList: z.array(z.string()).min(1) });

export const accountHandlers = {
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
} satisfies Handlers;
