/**
 * The gateway's IM callback endpoint: checks SdkAppid and, when a callback token is set, Sign and
 * RequestTime (401 on a bad or stale signature), validates the documented body, and answers IM's
 * OK only after the event was handed over durably (journal + signal-with-start). Unknown commands
 * are acknowledged and counted, never a crash.
 */
import type { FastifyInstance } from 'fastify';
import { CALLBACK_OK, CallbackBody, verifyCallbackSign, type CallbackQuery } from '../im/callbacks';
import type { GatewayCounters } from './index';
import { describeIssue } from '../legacy/bridge';
import { fromImCallback, type SyncEventSink } from './sync-events';

export const IM_CALLBACK_PATH = '/im/callback';

export interface ImCallbackRouteOptions {
  sdkAppId: number;
  admin: string;
  /** The console's callback token; when absent, Sign is not checked. */
  callbackToken?: string;
  sink: SyncEventSink;
  nowS: () => number;
}

const fail = (info: string) => ({ ActionStatus: 'FAIL', ErrorCode: 1, ErrorInfo: info });

export function registerImCallbackRoute(app: FastifyInstance, opts: ImCallbackRouteOptions, counters: GatewayCounters): void {
  app.post(IM_CALLBACK_PATH, async (request, reply) => {
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
    let json: unknown;
    try {
      json = JSON.parse(typeof request.body === 'string' ? request.body : '');
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
    const result = await opts.sink.accept(fromImCallback(parsed.data, q.OptPlatform ?? 'Unknown', opts.admin));
    counters.accepted.newToOld[result]++;
    return CALLBACK_OK;
  });
}
