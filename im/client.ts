/**
 * The Tencent IM REST client. One `call` posts to `/v4/<service>/<command>` with the admin
 * identifier and a cached admin UserSig, validates the answer with the API's zod schema and
 * throws an `ImError` (with its class) when ActionStatus/ErrorCode say so. Per-item results of
 * batch APIs are returned, classified, by the typed helpers below, never dropped.
 *
 * The client neither retries nor rate-limits: Temporal does both (activity retry policies by
 * error class, task-queue rate limits from im/apis.ts). The one exception: an auth-class answer
 * renews the cached UserSig and the call is sent once more.
 */
import http from 'node:http';
import https from 'node:https';
import { randomInt } from 'node:crypto';
import axios, { AxiosError, type AxiosInstance } from 'axios';
import { IM_APIS, IM_REGION_DOMAINS, IM_SERVER_TIMEOUT_MS, type ImApiName, type ImRegion } from './apis';
import { classifyImErrorCode, ImError, RESPONSE_SHAPE_ERROR_CODE, TRANSPORT_ERROR_CODE, type ImErrorClass } from './errors';
import type { GroupType, MsgBody } from './messages';
import { RESPONSE_SCHEMAS, type ImResponse } from './schemas';
import { AdminUserSig } from './usersig';

export interface ImClientOptions {
  sdkAppId: number;
  secretKey: string;
  admin: string;
  /** Region of the SDKAppID; ignored when baseUrl is set. */
  region?: ImRegion;
  /** e.g. the emulator's http://127.0.0.1:port, or a proxy. */
  baseUrl?: string;
  /** Must exceed IM's own 3 s; default 10 s. */
  timeoutMs?: number;
  /** Sockets kept open per host. */
  maxSockets?: number;
}

type Tag = { Tag: string; Value: string | number };
type KeyValue = { Key: string; Value: string };

/** The group fields import_group and create_group share. */
interface GroupFields {
  Owner_Account?: string;
  Type: GroupType | string;
  GroupId?: string;
  Name: string;
  Introduction?: string;
  Notification?: string;
  FaceUrl?: string;
  MaxMemberCount?: number;
  ApplyJoinOption?: string;
  AppDefinedData?: KeyValue[];
}

/** Request bodies, field names exactly as IM documents them. */
export interface ImRequests {
  multiaccount_import: { Accounts: string[] } | { AccountList: Array<{ UserID: string; Nick?: string; FaceUrl?: string }> };
  account_import: { UserID: string; Nick?: string; FaceUrl?: string };
  portrait_set: { From_Account: string; ProfileItem: Tag[] };
  friend_import: {
    From_Account: string;
    AddFriendItem: Array<{
      To_Account: string;
      Remark?: string;
      RemarkTime?: number;
      GroupName?: string[];
      AddSource: string;
      AddWording?: string;
      AddTime?: number;
      CustomItem?: Tag[];
    }>;
  };
  importmsg: {
    SyncFromOldSystem: number;
    From_Account: string;
    To_Account: string;
    MsgSeq?: number;
    MsgRandom: number;
    MsgTimeStamp: number;
    MsgBody: MsgBody;
    CloudCustomData?: string;
  };
  admin_set_msg_read: { Report_Account: string; Peer_Account: string; MsgReadTime?: number };
  import_group: GroupFields & { CreateTime?: number };
  import_group_member: {
    GroupId: string;
    MemberList: Array<{ Member_Account: string; Role?: 'Admin'; JoinTime?: number; UnreadMsgNum?: number }>;
  };
  import_group_msg: {
    GroupId: string;
    RecentContactFlag?: number;
    MsgList: Array<{ From_Account: string; SendTime: number; Random?: number; MsgBody: MsgBody }>;
  };
  set_unread_msg_num: { GroupId: string; Member_Account: string; UnreadMsgNum: number };
  sendmsg: {
    SyncOtherMachine?: number;
    From_Account?: string;
    To_Account: string;
    MsgLifeTime?: number;
    MsgSeq?: number;
    MsgRandom: number;
    MsgBody: MsgBody;
    CloudCustomData?: string;
    ForbidCallbackControl?: string[];
    SendMsgControl?: string[];
  };
  create_group: GroupFields & { MemberList?: Array<{ Member_Account: string; Role?: 'Admin' }> };
  modify_group_base_info: {
    GroupId: string;
    Name?: string;
    Introduction?: string;
    Notification?: string;
    FaceUrl?: string;
    MaxMemberNum?: number;
    ApplyJoinOption?: string;
    MuteAllMember?: 'On' | 'Off';
    AppDefinedData?: KeyValue[];
  };
  add_group_member: { GroupId: string; Silence?: number; MemberList: Array<{ Member_Account: string }> };
  delete_group_member: { GroupId: string; Silence?: number; Reason?: string; MemberToDel_Account: string[] };
  send_group_msg: {
    GroupId: string;
    Random: number;
    MsgBody: MsgBody;
    From_Account?: string;
    CloudCustomData?: string;
    ForbidCallbackControl?: string[];
    SendMsgControl?: string[];
    OnlineOnlyFlag?: number;
  };
  destroy_group: { GroupId: string };
  account_check: { CheckItem: Array<{ UserID: string }> };
  portrait_get: { To_Account: string[]; TagList: string[] };
  friend_get: { From_Account: string; StartIndex: number; StandardSequence?: number; CustomSequence?: number };
  admin_getroammsg: {
    Operator_Account: string;
    Peer_Account: string;
    MaxCnt: number;
    MinTime: number;
    MaxTime: number;
    LastMsgKey?: string;
  };
  get_group_info: { GroupIdList: string[]; ResponseFilter?: Record<string, string[]> };
  get_group_member_info: { GroupId: string; Limit?: number; Offset?: number; MemberInfoFilter?: string[] };
  group_msg_get_simple: { GroupId: string; ReqMsgNumber: number; ReqMsgSeq?: number };
}

/** One item of a batch API's answer, with its class when it failed. */
export interface ItemOutcome {
  id: string;
  ok: boolean;
  code: number;
  errorClass?: ImErrorClass;
  reason?: string;
}

export class ImClient {
  private readonly http: AxiosInstance;
  private readonly userSig: AdminUserSig;

  constructor(private readonly options: ImClientOptions) {
    const timeout = options.timeoutMs ?? 10_000;
    if (timeout <= IM_SERVER_TIMEOUT_MS) throw new Error(`IM client timeout ${timeout} ms must exceed IM's own ${IM_SERVER_TIMEOUT_MS} ms`);
    const baseURL = options.baseUrl ?? `https://${IM_REGION_DOMAINS[options.region ?? 'singapore']}`;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 64 };
    this.http = axios.create({
      baseURL,
      timeout,
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(agentOptions),
      headers: { 'Content-Type': 'application/json; charset=utf-8' },
      // IM answers 200 with the outcome in the body; anything else is a transport failure.
      validateStatus: () => true,
      // IM does not redirect; without redirects axios uses plain http(s) instead of wrapping every
      // call in follow-redirects (a few percent of a busy worker's CPU in a profile).
      maxRedirects: 0,
      // Without a proxy in the environment, axios need not look for one on every call (a fifth of its CPU per call).
      proxy: proxyInEnvironment() ? undefined : false,
      transitional: { clarifyTimeoutError: true },
    });
    this.userSig = new AdminUserSig(options.sdkAppId, options.secretKey, options.admin);
  }

  get baseUrl(): string {
    return this.http.defaults.baseURL ?? '';
  }

  /** POST one API call; throws ImError on transport failure or ErrorCode ≠ 0. */
  async call<A extends ImApiName>(api: A, body: ImRequests[A]): Promise<ImResponse<A>> {
    try {
      return await this.send(api, body);
    } catch (err) {
      if (err instanceof ImError && err.errorClass === 'auth-config' && isSigProblem(err.code)) {
        this.userSig.invalidate();
        return this.send(api, body);
      }
      throw err;
    }
  }

  private async send<A extends ImApiName>(api: A, body: ImRequests[A]): Promise<ImResponse<A>> {
    const params = {
      sdkappid: this.options.sdkAppId,
      identifier: this.options.admin,
      usersig: this.userSig.get(),
      random: randomInt(0, 0xffffffff),
      contenttype: 'json',
    };
    let status: number;
    let data: unknown;
    try {
      const res = await this.http.post(`/v4/${IM_APIS[api].path}`, body ?? {}, { params });
      status = res.status;
      data = res.data;
    } catch (err) {
      // Never echo the request URL: it holds the UserSig.
      const reason = err instanceof AxiosError ? (err.code ?? 'network error') : 'network error';
      throw new ImError(api, TRANSPORT_ERROR_CODE, `transport failure (${reason})`, 'retryable');
    }
    if (status !== 200) throw new ImError(api, TRANSPORT_ERROR_CODE, `HTTP ${status}`, 'retryable');
    const parsed = RESPONSE_SCHEMAS[api].safeParse(typeof data === 'string' ? safeJson(data) : data);
    if (!parsed.success)
      throw new ImError(api, RESPONSE_SHAPE_ERROR_CODE, `unexpected response shape: ${parsed.error.issues[0]?.message ?? ''}`, 'retryable');
    const response = parsed.data as ImResponse<A>;
    if (response.ErrorCode !== 0 || response.ActionStatus !== 'OK') {
      throw new ImError(api, response.ErrorCode, response.ErrorInfo || 'request failed');
    }
    return response;
  }

  // Typed helpers whose answers carry per-item results.

  /** Accounts IM refused (FailAccounts), by id. */
  async multiaccountImport(body: ImRequests['multiaccount_import']): Promise<ItemOutcome[]> {
    const res = await this.call('multiaccount_import', body);
    const ids = 'Accounts' in body ? body.Accounts : body.AccountList.map((a) => a.UserID);
    const failed = new Set(res.FailAccounts);
    return ids.map((id) =>
      failed.has(id)
        ? { id, ok: false, code: 70402, errorClass: 'invalid', reason: 'IM refused the account (FailAccounts)' }
        : { id, ok: true, code: 0 },
    );
  }

  async friendImport(body: ImRequests['friend_import']): Promise<ItemOutcome[]> {
    const res = await this.call('friend_import', body);
    const byId = new Map(res.ResultItem.map((r) => [r.To_Account, r]));
    const failed = new Set(res.Fail_Account);
    return body.AddFriendItem.map(({ To_Account: id }) => {
      const item = byId.get(id);
      const code = item?.ResultCode ?? (failed.has(id) ? -1 : 0);
      return code === 0
        ? { id, ok: true, code }
        : { id, ok: false, code, errorClass: classifyImErrorCode(code), reason: item?.ResultInfo ?? 'friend import failed' };
    });
  }

  /** Result 1 = added, 2 = already a member (both fine); 0 = failed. */
  async importGroupMember(body: ImRequests['import_group_member']): Promise<ItemOutcome[]> {
    const res = await this.call('import_group_member', body);
    return memberOutcomes(
      body.MemberList.map((m) => m.Member_Account),
      res.MemberList,
    );
  }

  async addGroupMember(body: ImRequests['add_group_member']): Promise<ItemOutcome[]> {
    const res = await this.call('add_group_member', body);
    return memberOutcomes(
      body.MemberList.map((m) => m.Member_Account),
      res.MemberList,
    );
  }

  /** One outcome per message, in request order, with the MsgSeq IM assigned. */
  async importGroupMsg(body: ImRequests['import_group_msg']): Promise<Array<ItemOutcome & { msgSeq?: number; msgTime?: number }>> {
    const res = await this.call('import_group_msg', body);
    return body.MsgList.map((m, i) => {
      const r = res.ImportMsgResult[i];
      const code = r?.Result ?? RESPONSE_SHAPE_ERROR_CODE;
      const id = String(m.Random ?? i);
      return code === 0
        ? { id, ok: true, code, msgSeq: r?.MsgSeq, msgTime: r?.MsgTime }
        : {
            id,
            ok: false,
            code,
            errorClass: r ? classifyImErrorCode(code) : 'retryable',
            reason: r ? 'IM refused the message' : 'no result for this message',
          };
    });
  }

  /** Per account: imported or not. */
  async accountCheck(userIds: string[]): Promise<Map<string, boolean>> {
    const res = await this.call('account_check', { CheckItem: userIds.map((UserID) => ({ UserID })) });
    return new Map(res.ResultItem.map((r) => [r.UserID, r.ResultCode === 0 && r.AccountStatus === 'Imported']));
  }

  /** All friends of one user, paging with StartIndex/NextStartIndex until CompleteFlag. */
  async friendGetAll(userId: string): Promise<ImResponse<'friend_get'>['UserDataItem']> {
    const all: ImResponse<'friend_get'>['UserDataItem'] = [];
    let start = 0;
    for (;;) {
      const res = await this.call('friend_get', { From_Account: userId, StartIndex: start, StandardSequence: 0, CustomSequence: 0 });
      all.push(...res.UserDataItem);
      if (res.CompleteFlag !== 0 || res.NextStartIndex <= start) return all;
      start = res.NextStartIndex;
    }
  }

  /** A whole one-to-one conversation as `operator` sees it, newest pages first, de-duplicated by MsgKey. */
  async roamingMessagesAll(
    operator: string,
    peer: string,
    minTime = 0,
    maxTime = Math.floor(Date.now() / 1000) + 60,
  ): Promise<ImResponse<'admin_getroammsg'>['MsgList']> {
    const seen = new Map<string, ImResponse<'admin_getroammsg'>['MsgList'][number]>();
    let lastMsgKey: string | undefined;
    let upper = maxTime;
    for (;;) {
      const res = await this.call('admin_getroammsg', {
        Operator_Account: operator,
        Peer_Account: peer,
        MaxCnt: 100,
        MinTime: minTime,
        MaxTime: upper,
        LastMsgKey: lastMsgKey,
      });
      for (const m of res.MsgList) seen.set(m.MsgKey, m);
      if (res.Complete === 1 || res.MsgList.length === 0 || res.LastMsgKey === undefined) break;
      lastMsgKey = res.LastMsgKey;
      upper = res.LastMsgTime ?? upper;
    }
    return [...seen.values()].sort((a, b) => a.MsgTimeStamp - b.MsgTimeStamp || a.MsgSeq - b.MsgSeq);
  }

  /** Every member of a group, paging with Limit/Offset. */
  async groupMembersAll(groupId: string, pageSize = 100): Promise<ImResponse<'get_group_member_info'>['MemberList']> {
    const all: ImResponse<'get_group_member_info'>['MemberList'] = [];
    for (let offset = 0; ; offset += pageSize) {
      const res = await this.call('get_group_member_info', { GroupId: groupId, Limit: pageSize, Offset: offset });
      all.push(...res.MemberList);
      if (res.MemberList.length < pageSize || all.length >= res.MemberNum) return all;
    }
  }

  /** A group's whole history, walking ReqMsgSeq down from the newest message. */
  async groupMessagesAll(groupId: string): Promise<ImResponse<'group_msg_get_simple'>['RspMsgList']> {
    const all: ImResponse<'group_msg_get_simple'>['RspMsgList'] = [];
    let reqSeq: number | undefined;
    for (;;) {
      const res = await this.call('group_msg_get_simple', { GroupId: groupId, ReqMsgNumber: 20, ReqMsgSeq: reqSeq });
      if (res.RspMsgList.length === 0) break;
      all.push(...res.RspMsgList);
      const smallest = Math.min(...res.RspMsgList.map((m) => m.MsgSeq));
      if (smallest <= 1) break;
      reqSeq = smallest - 1;
    }
    return all.sort((a, b) => a.MsgSeq - b.MsgSeq);
  }
}

function memberOutcomes(ids: string[], results: Array<{ Member_Account: string; Result: number }>): ItemOutcome[] {
  const byId = new Map(results.map((r) => [r.Member_Account, r.Result]));
  return ids.map((id) => {
    const result = byId.get(id);
    if (result === 1 || result === 2) return { id, ok: true, code: 0 };
    return {
      id,
      ok: false,
      code: 10019,
      errorClass: 'missing-reference',
      reason: result === 3 ? 'awaiting approval' : 'IM did not add the member (Result 0)',
    };
  });
}

/** Answers that a fresh UserSig can cure. */
function isSigProblem(code: number): boolean {
  return code === 70001 || code === 60004 || code === 60005 || code === 70003 || code === 70005 || code === 20002;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Whether the environment names an HTTP proxy the way axios reads it (proxy-from-env). */
function proxyInEnvironment(env: NodeJS.ProcessEnv = process.env): boolean {
  const names = ['http_proxy', 'https_proxy', 'all_proxy', 'npm_config_proxy', 'npm_config_http_proxy', 'npm_config_https_proxy'];
  return names.some((name) => Boolean(env[name] || env[name.toUpperCase()]));
}
