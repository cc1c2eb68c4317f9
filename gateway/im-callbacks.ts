/**
 * The gateway's IM callback endpoint: checks the source address against the allow-list (when set),
 * SdkAppid, and, when a callback token is set, Sign and RequestTime (401 on a bad or stale
 * signature, or on a replay of a request already taken), validates the documented body, and answers
 * IM's OK only after the event was handed over durably (journal + signal-with-start). Unknown commands
 * are acknowledged and counted, never a crash.
 */
import type { FastifyInstance } from 'fastify';
import { CALLBACK_OK, CallbackBody, verifyCallbackSign, type CallbackQuery } from '../im/callbacks';
import type { GatewayCounters } from './index';
import { describeIssue } from '../legacy/bridge';
import { CallbackReplayGuard, type SourceAllowList } from './callback-guards';
import { fromImCallback, type AcceptResult, type SyncEventSink } from './sync-events';

export const IM_CALLBACK_PATH = '/im/callback';

export interface ImCallbackRouteOptions {
  sdkAppId: number;
  admin: string;
  /** The console's callback token; when absent (explicitly insecure), Sign is not checked. */
  callbackToken?: string;
  /** IM's source addresses; when absent, any address may post. */
  sources?: SourceAllowList;
  sink: SyncEventSink;
  nowS: () => number;
}

const fail = (info: string) => ({ ActionStatus: 'FAIL', ErrorCode: 1, ErrorInfo: info });

export function registerImCallbackRoute(app: FastifyInstance, opts: ImCallbackRouteOptions, counters: GatewayCounters): void {
  const replays = opts.callbackToken === undefined ? undefined : new CallbackReplayGuard();
  app.post(
    IM_CALLBACK_PATH,
    {
      // Everything the query and the peer tell is checked before the body is read (it may be megabytes).
      onRequest: async (request, reply) => {
        if (opts.sources !== undefined && !opts.sources.allows(request.ip)) {
          counters.rejected.sourceAddress++;
          return reply.code(403).send(fail(`source address ${request.ip} is not in the callback allow-list`));
        }
        const q = request.query as Partial<CallbackQuery>;
        if (q.SdkAppid !== String(opts.sdkAppId)) {
          counters.rejected.sdkAppId++;
          return reply.code(403).send(fail('SdkAppid does not match'));
        }
        if (opts.callbackToken !== undefined) {
          const check = verifyCallbackSign(opts.callbackToken, q.Sign, q.RequestTime, opts.nowS());
          if (!check.ok) {
            counters.rejected.signature++;
            return reply.code(401).send(fail(check.reason));
          }
        }
      },
    },
    async (request, reply) => {
      const q = request.query as Partial<CallbackQuery>;
      const raw = typeof request.body === 'string' ? request.body : '';
      // The signature was checked before the body was read, so RequestTime is a number here.
      const requestTime = Number(q.RequestTime);
      if (replays !== undefined && !replays.firstSight(requestTime, request.url, raw, opts.nowS())) {
        counters.rejected.replay++;
        return reply.code(401).send(fail('replay of a callback already received'));
      }
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        counters.rejected.body++;
        return reply.code(400).send(fail('body is not JSON'));
      }
      const command = q.CallbackCommand ?? (json as { CallbackCommand?: string })?.CallbackCommand ?? '';
      const parsed = CallbackBody.safeParse(json);
      if (!parsed.success) {
        const known = CallbackBody.options.some((o) => o.shape.CallbackCommand.value === command);
        if (!known) {
          // A command we do not sync (IM has many): acknowledge so IM does not count a failure.
          counters.unknownCommands[command] = (counters.unknownCommands[command] ?? 0) + 1;
          return CALLBACK_OK;
        }
        counters.rejected.body++;
        return reply.code(400).send(fail(describeIssue(parsed.error)));
      }
      let result: AcceptResult;
      try {
        result = await opts.sink.accept(fromImCallback(parsed.data, q.OptPlatform ?? 'Unknown', opts.admin));
      } catch (err) {
        // Not handed over: the same request again (IM's retry, when enabled) is not a replay.
        replays?.forget(requestTime, request.url, raw);
        throw err;
      }
      counters.accepted.newToOld[result]++;
      return CALLBACK_OK;
    },
  );
}
