/**
 * The IM callback endpoint of the sync gateway (first part of the coexistence issue): checks
 * SdkAppid and, when a callback token is set, Sign and RequestTime (401 on a bad or stale
 * signature), caps the body, validates the documented body, and answers IM's OK only after the
 * event was handed to `deliver` (the durable Temporal signal-with-start, in the sync workers).
 * Unknown commands are acknowledged and counted, never a crash.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { CALLBACK_OK, CallbackBody, verifyCallbackSign, type CallbackBody as CallbackEvent, type CallbackQuery } from '../im/callbacks';

export interface ImCallbackGatewayOptions {
  sdkAppId: number;
  /** The console's callback token; when absent, Sign is not checked. */
  callbackToken?: string;
  /** Hands an event over durably; the answer to IM waits for it. */
  deliver(event: { command: string; optPlatform: string; clientIp?: string; body: CallbackEvent }): Promise<void>;
  /** Largest body accepted (IM callbacks carry one message, at most 12 KB of content). */
  bodyLimitBytes?: number;
  nowS?: () => number;
}

export interface GatewayCounters {
  accepted: number;
  unknownCommands: Record<string, number>;
  rejected: { signature: number; sdkAppId: number; body: number };
}

export function createImCallbackGateway(opts: ImCallbackGatewayOptions): { app: FastifyInstance; counters: () => GatewayCounters } {
  const nowS = opts.nowS ?? (() => Math.floor(Date.now() / 1000));
  const counters: GatewayCounters = { accepted: 0, unknownCommands: {}, rejected: { signature: 0, sdkAppId: 0, body: 0 } };
  const app = Fastify({ logger: false, bodyLimit: opts.bodyLimitBytes ?? 64 * 1024 });
  // IM's Content-Type is not documented: read the body as text and parse it as JSON ourselves.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));

  app.get('/health', async () => ({ ok: true }));

  app.post('/im/callback', async (request, reply) => {
    const q = request.query as Partial<CallbackQuery>;
    if (q.SdkAppid !== String(opts.sdkAppId)) {
      counters.rejected.sdkAppId++;
      return reply.code(403).send({ ActionStatus: 'FAIL', ErrorCode: 1, ErrorInfo: 'SdkAppid does not match' });
    }
    if (opts.callbackToken !== undefined) {
      const check = verifyCallbackSign(opts.callbackToken, q.Sign, q.RequestTime, nowS());
      if (!check.ok) {
        counters.rejected.signature++;
        return reply.code(401).send({ ActionStatus: 'FAIL', ErrorCode: 1, ErrorInfo: check.reason });
      }
    }
    let json: unknown;
    try {
      json = JSON.parse(typeof request.body === 'string' ? request.body : '');
    } catch {
      counters.rejected.body++;
      return reply.code(400).send({ ActionStatus: 'FAIL', ErrorCode: 1, ErrorInfo: 'body is not JSON' });
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
      const issue = parsed.error.issues[0];
      return reply.code(400).send({ ActionStatus: 'FAIL', ErrorCode: 1, ErrorInfo: `${issue?.path.join('.') || 'body'}: ${issue?.message}` });
    }
    await opts.deliver({ command, optPlatform: q.OptPlatform ?? 'Unknown', clientIp: q.ClientIP, body: parsed.data });
    counters.accepted++;
    return CALLBACK_OK;
  });

  return { app, counters: () => structuredClone(counters) };
}
