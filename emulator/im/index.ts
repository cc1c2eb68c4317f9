/**
 * A Tencent IM emulator: a real HTTP server that a client cannot tell from IM on the APIs
 * tim-migrate uses. It verifies the admin UserSig, enforces each API's rate and batch limits from
 * the same im/ table the client and workers read, applies IM's data rules (rest-api/), sends
 * callbacks like IM, and injects faults on demand. Inspection and control live under /__emulator/.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { apiByPath, IM_CALLBACK_TIMEOUT_MS, resolveApiLimits, type ApiLimits, type ApiLimitTable, type ImApiName } from '../../im/apis';
import { callbackSign } from '../../im/callbacks';
import { imErrorInfo, invalidBodyCodeFor, retryableCodeFor, SENDER_MUTED_CODE, TOO_MANY_ITEMS_CODE } from '../../im/errors';
import type { GroupType, MsgBody } from '../../im/messages';
import { verifyUserSig } from '../../im/usersig';
import {
  ApiError,
  appendGroupMessage,
  applyGroupProfile,
  c2cCallback,
  createGroup,
  createGroupCallback,
  destroyedCallback,
  groupMsgCallback,
  infoChangedCallback,
  memberExitCallback,
  memberJoinCallback,
  requireGroup,
  REST_HANDLERS,
  type ApiContext,
  type EmittedCallback,
} from './rest-api';
import { postJson } from '../../legacy/http-post';
import { ImState, type EmulatorSnapshot } from './state';

export type { EmulatorSnapshot } from './state';

export interface EmulatorFaults {
  /** Added to every answer, like a same-region call (default 30 ms). */
  latencyMs: number;
  /** Share of calls answered with the API family's retryable code; the write is not applied. */
  retryableErrorRate: number;
  /** Share of calls whose write IS applied but whose answer is lost (connection dropped): the adversarial case for idempotency. */
  timeoutRate: number;
  /** Share of calls answered with HTTP 502 and no JSON; the write is not applied. */
  http5xxRate: number;
}

/**
 * A test's hand in one call, after the checks every call passes: answer with `handle(body)` (the
 * body changed or not, the answer changed or not), or throw ApiError to answer with that code.
 */
export type ApiInterceptor = (
  api: ImApiName,
  body: Record<string, unknown>,
  handle: (body: Record<string, unknown>) => Record<string, unknown>,
) => Record<string, unknown>;

export interface ImEmulatorOptions {
  sdkAppId: number;
  secretKey: string;
  admin: string;
  host?: string;
  port?: number;
  callbackUrl?: string;
  callbackToken?: string;
  limits?: Partial<Record<ImApiName, Partial<ApiLimits>>>;
  faults?: Partial<EmulatorFaults>;
  nowS?: () => number;
  /** Deterministic fault injection for tests. */
  random?: () => number;
  /**
   * Roles MuteAllMember does not mute (UNCONFIRMED in the docs; by default the owner and admins
   * still post, the case the import must survive).
   */
  unmutedRoles?: ReadonlyArray<'Owner' | 'Admin' | 'Member'>;
}

export interface EmulatorCounters {
  calls: Partial<Record<ImApiName, number>>;
  rejectedForRate: Partial<Record<ImApiName, number>>;
  rejectedForBatch: Partial<Record<ImApiName, number>>;
  errors: Partial<Record<ImApiName, number>>;
  faultsInjected: { retryable: number; timeout: number; http5xx: number };
  callbacksSent: number;
  callbacksFailed: number;
}

export interface AppUser {
  sendC2C(to: string, body: MsgBody, cloudCustomData?: string): Promise<{ msgKey: string; msgTime: number }>;
  sendGroupMsg(groupId: string, body: MsgBody, cloudCustomData?: string): Promise<{ msgSeq: number }>;
  createGroup(p: { groupId?: string; type: GroupType; name: string; members?: string[] }): Promise<{ groupId: string }>;
  joinGroup(groupId: string): Promise<void>;
  quitGroup(groupId: string): Promise<void>;
  changeGroupProfile(
    groupId: string,
    change: { Name?: string; Introduction?: string; Notification?: string; FaceUrl?: string },
  ): Promise<void>;
  disbandGroup(groupId: string): Promise<void>;
}

export interface ImEmulator {
  readonly baseUrl: string;
  readonly port: number;
  setFaults(f: Partial<EmulatorFaults>): void;
  setLimits(l: Partial<Record<ImApiName, Partial<ApiLimits>>>): void;
  setCallback(url: string | undefined, token?: string): void;
  /** Every call passes through `interceptor` until it is cleared (undefined). */
  intercept(interceptor: ApiInterceptor | undefined): void;
  counters(): EmulatorCounters;
  reset(): void;
  snapshot(): EmulatorSnapshot;
  /** Act as an App 2.0 user on a client SDK: callbacks carry this platform (default iOS). */
  asUser(userId: string, platform?: string): AppUser;
  /** Resolves when every callback queued so far has been delivered (or failed). */
  callbacksDrained(): Promise<void>;
  close(): Promise<void>;
}

const DEFAULT_FAULTS: EmulatorFaults = { latencyMs: 30, retryableErrorRate: 0, timeoutRate: 0, http5xxRate: 0 };

/** How many items a call carries, for the batch limit (IM's answer for too many: TOO_MANY_ITEMS_CODE). */
const BATCH_ITEMS: Partial<Record<ImApiName, (b: Record<string, unknown>) => number>> = {
  multiaccount_import: (b) => arrayLength(b.Accounts ?? b.AccountList),
  friend_import: (b) => arrayLength(b.AddFriendItem),
  import_group_member: (b) => arrayLength(b.MemberList),
  import_group_msg: (b) => arrayLength(b.MsgList),
  add_group_member: (b) => arrayLength(b.MemberList),
  delete_group_member: (b) => arrayLength(b.MemberToDel_Account),
  create_group: (b) => arrayLength(b.MemberList),
  account_check: (b) => arrayLength(b.CheckItem),
  portrait_get: (b) => arrayLength(b.To_Account),
  get_group_info: (b) => arrayLength(b.GroupIdList),
  group_msg_get_simple: (b) => (typeof b.ReqMsgNumber === 'number' ? b.ReqMsgNumber : 0),
};
const arrayLength = (v: unknown) => (Array.isArray(v) ? v.length : 0);

/** A token bucket per API: capacity = one second of calls, refilled continuously. */
class RateLimiter {
  private readonly buckets = new Map<ImApiName, { tokens: number; at: number }>();
  constructor(private limits: ApiLimitTable) {}
  setLimits(limits: ApiLimitTable): void {
    this.limits = limits;
    this.buckets.clear();
  }
  take(api: ImApiName, nowMs: number): boolean {
    const rate = this.limits[api].callsPerSecond;
    const bucket = this.buckets.get(api) ?? { tokens: rate, at: nowMs };
    bucket.tokens = Math.min(rate, bucket.tokens + ((nowMs - bucket.at) / 1000) * rate);
    bucket.at = nowMs;
    this.buckets.set(api, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }
}

/** Delivers callbacks one after another, in event order, each within IM's 2 s. */
class CallbackSender {
  private queue: Promise<void> = Promise.resolve();
  sent = 0;
  failed = 0;
  constructor(
    private readonly sdkAppId: number,
    public url: string | undefined,
    public token: string | undefined,
    private readonly nowS: () => number,
  ) {}

  send(cb: EmittedCallback, clientIp: string): void {
    const url = this.url;
    if (!url) return;
    const token = this.token;
    const body = { CallbackCommand: cb.command, ...cb.body, EventTime: Date.now() };
    this.queue = this.queue.then(async () => {
      const params = new URLSearchParams({
        SdkAppid: String(this.sdkAppId),
        CallbackCommand: cb.command,
        contenttype: 'json',
        ClientIP: clientIp,
        OptPlatform: cb.platform,
      });
      if (token) {
        const requestTime = String(this.nowS());
        params.set('Sign', callbackSign(token, requestTime));
        params.set('RequestTime', requestTime);
      }
      try {
        const res = await postJson(`${url}${url.includes('?') ? '&' : '?'}${params}`, JSON.stringify(body), {}, IM_CALLBACK_TIMEOUT_MS);
        if (res.ok) this.sent++;
        else this.failed++;
      } catch {
        this.failed++;
      }
    });
  }

  drained(): Promise<void> {
    return this.queue;
  }
}

export async function startImEmulator(opts: ImEmulatorOptions): Promise<ImEmulator> {
  const nowS = opts.nowS ?? (() => Math.floor(Date.now() / 1000));
  const random = opts.random ?? Math.random;
  const unmutedRoles = opts.unmutedRoles ?? ['Owner', 'Admin'];
  const state = new ImState(opts.admin, opts.sdkAppId);
  let faults: EmulatorFaults = { ...DEFAULT_FAULTS, ...opts.faults };
  let interceptor: ApiInterceptor | undefined;
  let limitOverrides = opts.limits ?? {};
  const mergedLimits = (): ApiLimitTable => {
    const table = resolveApiLimits({});
    for (const [api, l] of Object.entries(limitOverrides) as Array<[ImApiName, Partial<ApiLimits>]>) table[api] = { ...table[api], ...l };
    return table;
  };
  let limits = mergedLimits();
  const limiter = new RateLimiter(limits);
  const callbacks = new CallbackSender(opts.sdkAppId, opts.callbackUrl, opts.callbackToken, nowS);
  const counters: EmulatorCounters = {
    calls: {},
    rejectedForRate: {},
    rejectedForBatch: {},
    errors: {},
    faultsInjected: { retryable: 0, timeout: 0, http5xx: 0 },
    callbacksSent: 0,
    callbacksFailed: 0,
  };
  const bump = (table: Partial<Record<ImApiName, number>>, api: ImApiName) => (table[api] = (table[api] ?? 0) + 1);

  const app: FastifyInstance = Fastify({ logger: false, bodyLimit: 1024 * 1024, keepAliveTimeout: 60_000 });
  // IM reads the body as JSON whatever the header says; a bad body is IM's 60003, not a 400.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  const fail = (code: number, info?: string) => ({ ActionStatus: 'FAIL', ErrorCode: code, ErrorInfo: info || imErrorInfo(code) });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  let verifiedSig: { userSig: string; identifier: string; expiresAtS: number } | undefined;
  app.post('/v4/*', async (request, reply) => {
    if (faults.latencyMs > 0) await sleep(faults.latencyMs);
    const path = (request.params as { '*': string })['*'];
    const api = apiByPath(path);
    if (!api) return fail(60009, 'request resource error, check the request URL');
    bump(counters.calls, api);
    const q = request.query as Record<string, string | undefined>;
    if (!q.sdkappid) return fail(60012);
    if (Number(q.sdkappid) !== opts.sdkAppId) return fail(60006);
    // A client sends the same UserSig until it expires: its signature is checked once (inflate and HMAC per call were a tenth of the emulator's CPU).
    const now = nowS();
    if (
      verifiedSig === undefined ||
      q.usersig !== verifiedSig.userSig ||
      q.identifier !== verifiedSig.identifier ||
      now > verifiedSig.expiresAtS
    ) {
      const sig = verifyUserSig(q.usersig, {
        sdkAppId: opts.sdkAppId,
        secretKey: opts.secretKey,
        identifier: q.identifier ?? '',
        nowS: now,
      });
      if (!sig.ok) return fail(sig.code, sig.reason);
      verifiedSig = { userSig: q.usersig as string, identifier: sig.identifier, expiresAtS: sig.expiresAtS };
    }
    if (q.identifier !== opts.admin) return fail(60010);
    if (!limiter.take(api, Date.now())) {
      bump(counters.rejectedForRate, api);
      return fail(60007);
    }
    let body: Record<string, unknown>;
    try {
      const raw = typeof request.body === 'string' ? request.body : '';
      body = JSON.parse(raw === '' ? 'null' : raw);
      if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error('not an object');
    } catch {
      return fail(60003);
    }
    const countItems = BATCH_ITEMS[api];
    if (countItems && countItems(body) > limits[api].maxItems) {
      bump(counters.rejectedForBatch, api);
      return fail(TOO_MANY_ITEMS_CODE[api] ?? invalidBodyCodeFor(api), `too many items in one request (at most ${limits[api].maxItems})`);
    }
    const roll = random();
    if (roll < faults.http5xxRate) {
      counters.faultsInjected.http5xx++;
      reply.code(502).header('content-type', 'text/html').send('<html><body>502 Bad Gateway</body></html>');
      return reply;
    }
    if (roll < faults.http5xxRate + faults.retryableErrorRate) {
      counters.faultsInjected.retryable++;
      bump(counters.errors, api);
      return fail(retryableCodeFor(api));
    }
    const dropAnswer = roll < faults.http5xxRate + faults.retryableErrorRate + faults.timeoutRate;
    const emitted: EmittedCallback[] = [];
    const ctx: ApiContext = { state, admin: opts.admin, nowS: nowS(), emit: (cb) => emitted.push(cb) };
    let answer: Record<string, unknown>;
    try {
      const handle = (b: Record<string, unknown>) => REST_HANDLERS[api](b, ctx);
      answer = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '', ...(interceptor ? interceptor(api, body, handle) : handle(body)) };
    } catch (err) {
      bump(counters.errors, api);
      if (err instanceof ApiError) return fail(err.code, err.message);
      return fail(invalidBodyCodeFor(api), String(err));
    }
    for (const cb of emitted) callbacks.send(cb, request.ip);
    if (dropAnswer) {
      // Applied, but the caller never hears back: its retry must not duplicate anything.
      counters.faultsInjected.timeout++;
      request.raw.socket.destroy();
      return reply;
    }
    return answer;
  });
  app.route({ method: ['GET', 'PUT', 'DELETE', 'PATCH'], url: '/v4/*', handler: async () => fail(60002, 'only POST is accepted') });

  const appUser = (userId: string, platform = 'iOS'): AppUser => {
    const act = <T>(fn: (ctx: ApiContext) => T): T => {
      if (!state.hasAccount(userId)) throw new ApiError(70107, `${userId} does not exist`);
      const emitted: EmittedCallback[] = [];
      const result = fn({ state, admin: opts.admin, nowS: nowS(), emit: (cb) => emitted.push(cb) });
      for (const cb of emitted) callbacks.send(cb, '127.0.0.1');
      return result;
    };
    const member = (groupId: string) => {
      const group = requireGroup({ state } as ApiContext, groupId);
      if (!group.members.has(userId)) throw new ApiError(10007, `${userId} is not a member of ${groupId}`);
      return group;
    };
    return {
      sendC2C: async (to, body, cloudCustomData) =>
        act((ctx) => {
          if (!state.hasAccount(to)) throw new ApiError(20003, `${to} does not exist`);
          const seq = Math.floor(random() * 0xffffffff);
          const rnd = Math.floor(random() * 0xffffffff);
          const key = `${seq}_${rnd}_${ctx.nowS}`;
          state.addC2C({ from: userId, to, seq, random: rnd, time: ctx.nowS, key, body, cloudCustomData, via: platform });
          ctx.emit(c2cCallback(userId, to, seq, rnd, ctx.nowS, key, body, cloudCustomData, platform));
          return { msgKey: key, msgTime: ctx.nowS };
        }),
      sendGroupMsg: async (groupId, body, cloudCustomData) =>
        act((ctx) => {
          const group = member(groupId);
          const role = group.members.get(userId)!.role;
          if (group.muteAllMember === 'On' && !unmutedRoles.includes(role))
            throw new ApiError(SENDER_MUTED_CODE, `${userId} is muted in ${groupId}`);
          const rnd = Math.floor(random() * 0xffffffff);
          const seq = appendGroupMessage(ctx, group, { from: userId, time: ctx.nowS, random: rnd, body, cloudCustomData, via: platform });
          ctx.emit(groupMsgCallback(group, userId, userId, rnd, seq, ctx.nowS, body, cloudCustomData, platform));
          return { msgSeq: seq };
        }),
      createGroup: async (p) =>
        act((ctx) => {
          const group = createGroup(
            ctx,
            { Type: p.type, GroupId: p.groupId, Name: p.name, Owner_Account: userId },
            { existsCode: 10025, createTime: ctx.nowS },
          );
          for (const m of p.members ?? [])
            if (state.hasAccount(m)) group.members.set(m, { account: m, role: 'Member', joinTime: ctx.nowS, readSeq: 0 });
          ctx.emit(createGroupCallback(group, userId, platform));
          return { groupId: group.groupId };
        }),
      joinGroup: async (groupId) =>
        act((ctx) => {
          const group = requireGroup(ctx, groupId);
          if (group.members.has(userId)) return;
          group.members.set(userId, { account: userId, role: 'Member', joinTime: ctx.nowS, readSeq: group.nextSeq - 1 });
          ctx.emit(memberJoinCallback(group, userId, [userId], 'Apply', platform));
        }),
      quitGroup: async (groupId) =>
        act((ctx) => {
          const group = member(groupId);
          group.members.delete(userId);
          ctx.emit(memberExitCallback(group, userId, [userId], 'Quit', platform));
        }),
      changeGroupProfile: async (groupId, change) =>
        act((ctx) => {
          const group = member(groupId);
          const changed = applyGroupProfile(group, change, ctx.nowS);
          if (Object.keys(changed).length) ctx.emit(infoChangedCallback(group, userId, changed, platform));
        }),
      disbandGroup: async (groupId) =>
        act((ctx) => {
          const group = member(groupId);
          if (group.owner !== userId) throw new ApiError(10007, 'only the owner can disband the group');
          state.groups.delete(groupId);
          ctx.emit(destroyedCallback(group, platform));
        }),
    };
  };

  // Inspection and control, for tests, benchmarks and other processes.
  const currentCounters = (): EmulatorCounters => ({
    ...structuredClone(counters),
    callbacksSent: callbacks.sent,
    callbacksFailed: callbacks.failed,
  });
  app.get('/__emulator/counters', async () => currentCounters());
  app.get('/__emulator/state', async () => state.snapshot());
  app.post('/__emulator/faults', async (req) => {
    faults = { ...faults, ...(parseJson(req.body) as Partial<EmulatorFaults>) };
    return faults;
  });
  app.post('/__emulator/limits', async (req) => {
    limitOverrides = { ...limitOverrides, ...(parseJson(req.body) as typeof limitOverrides) };
    limits = mergedLimits();
    limiter.setLimits(limits);
    return limits;
  });
  app.post('/__emulator/callback', async (req) => {
    const b = parseJson(req.body) as { url?: string; token?: string };
    callbacks.url = b.url;
    callbacks.token = b.token;
    return { ok: true };
  });
  app.post('/__emulator/reset', async () => {
    resetAll();
    return { ok: true };
  });
  app.post('/__emulator/as-user/:action', async (req, reply) => {
    const { userId, platform, args } = parseJson(req.body) as { userId: string; platform?: string; args?: unknown[] };
    const user = appUser(userId, platform) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
    const action = (req.params as { action: string }).action;
    if (typeof user[action] !== 'function') return reply.code(404).send({ error: `unknown action ${action}` });
    try {
      return { ok: true, result: (await user[action](...(args ?? []))) ?? null };
    } catch (err) {
      return reply
        .code(400)
        .send({ ok: false, code: err instanceof ApiError ? err.code : undefined, error: String((err as Error).message) });
    }
  });

  function resetAll(): void {
    state.clear();
    interceptor = undefined;
    counters.calls = {};
    counters.rejectedForRate = {};
    counters.rejectedForBatch = {};
    counters.errors = {};
    counters.faultsInjected = { retryable: 0, timeout: 0, http5xx: 0 };
    callbacks.sent = 0;
    callbacks.failed = 0;
  }

  await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    baseUrl: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    port,
    setFaults: (f) => (faults = { ...faults, ...f }),
    setLimits: (l) => {
      limitOverrides = { ...limitOverrides, ...l };
      limits = mergedLimits();
      limiter.setLimits(limits);
    },
    setCallback: (url, token) => {
      callbacks.url = url;
      callbacks.token = token;
    },
    intercept: (i) => (interceptor = i),
    counters: currentCounters,
    reset: resetAll,
    snapshot: () => state.snapshot(),
    asUser: appUser,
    callbacksDrained: () => callbacks.drained(),
    close: async () => {
      await callbacks.drained();
      await app.close();
    },
  };
}

function parseJson(body: unknown): unknown {
  if (typeof body !== 'string') return body ?? {};
  return body === '' ? {} : JSON.parse(body);
}
