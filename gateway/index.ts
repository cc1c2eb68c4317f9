/**
 * The sync gateway: one fastify server with the IM callback endpoint, the old-system event
 * endpoint, a health endpoint and a graceful close (in-flight requests finish first, so an
 * acknowledged event is always durable). Bodies are read as text: IM's Content-Type is not
 * documented, and the old system's HMAC covers the raw bytes.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { registerImCallbackRoute } from './im-callbacks';
import { registerLegacyEventsRoute } from './legacy-events';
import type { AcceptResult, GroupIdMapping, SyncEventSink } from './sync-events';

export interface SyncGatewayOptions {
  sdkAppId: number;
  /** The migration admin: its REST group changes come back as callbacks and are dropped. */
  admin: string;
  callbackToken?: string;
  /** Shared secret of the old-system bridge (HMAC, both directions). */
  legacySecret: string;
  sink: SyncEventSink;
  groups: GroupIdMapping;
  /** Largest body accepted (one message is at most 12 KB of content). */
  bodyLimitBytes?: number;
  nowS?: () => number;
}

export interface GatewayCounters {
  accepted: { oldToNew: Record<AcceptResult, number>; newToOld: Record<AcceptResult, number> };
  unknownCommands: Record<string, number>;
  rejected: { signature: number; sdkAppId: number; body: number };
}

export interface SyncGateway {
  app: FastifyInstance;
  counters(): GatewayCounters;
}

export function createSyncGateway(opts: SyncGatewayOptions): SyncGateway {
  const nowS = opts.nowS ?? (() => Math.floor(Date.now() / 1000));
  const results = (): Record<AcceptResult, number> => ({ queued: 0, duplicate: 0, echo: 0 });
  const counters: GatewayCounters = { accepted: { oldToNew: results(), newToOld: results() }, unknownCommands: {}, rejected: { signature: 0, sdkAppId: 0, body: 0 } };
  const app = Fastify({ logger: false, bodyLimit: opts.bodyLimitBytes ?? 64 * 1024 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.get('/health', async () => ({ ok: true }));
  registerImCallbackRoute(app, { sdkAppId: opts.sdkAppId, admin: opts.admin, callbackToken: opts.callbackToken, sink: opts.sink, nowS }, counters);
  registerLegacyEventsRoute(app, { secret: opts.legacySecret, sink: opts.sink, groups: opts.groups, nowS }, counters);
  return { app, counters: () => structuredClone(counters) };
}
