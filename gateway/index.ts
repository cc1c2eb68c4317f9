/**
 * The sync gateway: one fastify server with the IM callback endpoint, the old-system event
 * endpoint, a health endpoint and a graceful close (in-flight requests finish first, so an
 * acknowledged event is always durable). Bodies are read as text: IM's Content-Type is not
 * documented, and the old system's HMAC covers the raw bytes.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { LARGEST_CALLBACK_BODY_BYTES } from '../im/callbacks';
import type { SourceAllowList } from './callback-guards';
import { registerImCallbackRoute } from './im-callbacks';
import { registerLegacyEventsRoute } from './legacy-events';
import type { AcceptResult, GroupIdMapping, SyncEventSink } from './sync-events';

export interface SyncGatewayOptions {
  sdkAppId: number;
  /** The migration admin: its REST group changes come back as callbacks and are dropped. */
  admin: string;
  /** The console's callback token. Required unless `insecureCallbacks` says otherwise. */
  callbackToken?: string;
  /** Accept unsigned IM callbacks: anyone who reaches the gateway could then post App 2.0 events. */
  insecureCallbacks?: boolean;
  /** IM's source addresses (TIM_CALLBACK_ALLOWED_IPS); unset, any address may post callbacks. */
  callbackSources?: SourceAllowList;
  /**
   * Proxies in front of the gateway whose X-Forwarded-For is believed (fastify's trustProxy). None
   * by default: the source address is the TCP peer's, which a client cannot forge by a header.
   */
  trustedProxies?: string[];
  /** Shared secret of the old-system bridge (HMAC, both directions). */
  legacySecret: string;
  sink: SyncEventSink;
  groups: GroupIdMapping;
  /** Largest body accepted; by default the largest callback IM documents (IM does not resend a refused one). */
  bodyLimitBytes?: number;
  nowS?: () => number;
}

export interface GatewayCounters {
  accepted: { oldToNew: Record<AcceptResult, number>; newToOld: Record<AcceptResult, number> };
  unknownCommands: Record<string, number>;
  rejected: { signature: number; replay: number; sourceAddress: number; sdkAppId: number; body: number };
}

export interface SyncGateway {
  app: FastifyInstance;
  counters(): GatewayCounters;
}

export const MISSING_CALLBACK_TOKEN =
  'TIM_CALLBACK_TOKEN is not set: without it anyone who reaches the gateway can post IM callbacks that are written to the old system. ' +
  'Turn on callback authentication in the IM console and set TIM_CALLBACK_TOKEN to its token, or pass --insecure-callbacks to accept unsigned callbacks';

export function createSyncGateway(opts: SyncGatewayOptions): SyncGateway {
  if (opts.callbackToken === undefined && !opts.insecureCallbacks) throw new Error(MISSING_CALLBACK_TOKEN);
  const nowS = opts.nowS ?? (() => Math.floor(Date.now() / 1000));
  const results = (): Record<AcceptResult, number> => ({ queued: 0, duplicate: 0, echo: 0 });
  const counters: GatewayCounters = {
    accepted: { oldToNew: results(), newToOld: results() },
    unknownCommands: {},
    rejected: { signature: 0, replay: 0, sourceAddress: 0, sdkAppId: 0, body: 0 },
  };
  const app = Fastify({
    logger: false,
    bodyLimit: opts.bodyLimitBytes ?? LARGEST_CALLBACK_BODY_BYTES,
    trustProxy: opts.trustedProxies ?? false,
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.get('/health', async () => ({ ok: true }));
  const { sdkAppId, admin, callbackToken, callbackSources: sources, sink } = opts;
  registerImCallbackRoute(app, { sdkAppId, admin, callbackToken, sources, sink, nowS }, counters);
  registerLegacyEventsRoute(app, { secret: opts.legacySecret, sink: opts.sink, groups: opts.groups, nowS }, counters);
  return { app, counters: () => structuredClone(counters) };
}
