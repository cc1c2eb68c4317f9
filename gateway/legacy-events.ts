/**
 * The gateway's old-system event endpoint (docs/legacy-bridge.md): an HMAC of timestamp and raw
 * body under the shared secret (401 when missing, stale or wrong), one zod-validated event per
 * request (400 naming the field), 200 only after the event was handed over durably.
 */
import type { FastifyInstance } from 'fastify';
import { BRIDGE_HEADERS, describeIssue, LEGACY_EVENTS_PATH, LegacyEvent, verifyBridgeSignature } from '../legacy/bridge';
import type { GatewayCounters } from './index';
import { fromLegacyEvent, type GroupIdMapping, type SyncEventSink } from './sync-events';

export interface LegacyEventsRouteOptions {
  secret: string;
  sink: SyncEventSink;
  groups: GroupIdMapping;
  nowS: () => number;
}

export function registerLegacyEventsRoute(app: FastifyInstance, opts: LegacyEventsRouteOptions, counters: GatewayCounters): void {
  app.post(LEGACY_EVENTS_PATH, async (request, reply) => {
    const raw = typeof request.body === 'string' ? request.body : '';
    const header = (name: string) => {
      const v = request.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const check = verifyBridgeSignature(opts.secret, header(BRIDGE_HEADERS.timestamp), header(BRIDGE_HEADERS.signature), raw, opts.nowS());
    if (!check.ok) {
      counters.rejected.signature++;
      return reply.code(401).send({ error: check.reason });
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      counters.rejected.body++;
      return reply.code(400).send({ error: 'body is not JSON' });
    }
    const parsed = LegacyEvent.safeParse(json);
    if (!parsed.success) {
      counters.rejected.body++;
      return reply.code(400).send({ error: describeIssue(parsed.error) });
    }
    const result = await opts.sink.accept(fromLegacyEvent(parsed.data, opts.groups));
    counters.accepted.oldToNew[result]++;
    return { ok: true, eventId: parsed.data.eventId, result };
  });
}
