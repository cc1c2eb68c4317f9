/**
 * An old-system emulator for the live sync: it stores one-to-one messages and groups, posts its
 * users' actions to the gateway as signed events like a message routing service (in order per
 * conversation or group, retried until acknowledged), accepts the tool's writes under the
 * documented contract (docs/legacy-bridge.md), and echoes every applied write back as an event
 * that carries the tool's origin marker, so loop prevention is exercised for real.
 */
import Fastify from 'fastify';
import type { GroupType, MsgBody } from '../../im/messages';
import {
  BRIDGE_HEADERS,
  describeIssue,
  LEGACY_EVENTS_PATH,
  LEGACY_WRITE_PATH,
  LegacyWrite,
  signedBridgeHeaders,
  verifyBridgeSignature,
  type LegacyEvent,
  type Origin,
} from '../../legacy/bridge';
import { postJson } from '../../legacy/http-post';

export interface LegacyMessage {
  messageId: string;
  from: string;
  to: string;
  time: number;
  body: MsgBody;
  cloudCustomData?: string;
  /** Present when the tool wrote it (a message sent in App 2.0). */
  origin?: Origin;
}
export interface LegacyGroupMessage {
  messageId: string;
  from: string;
  time: number;
  body: MsgBody;
  origin?: Origin;
}
export interface LegacyGroup {
  groupId: string;
  groupType: GroupType;
  owner?: string;
  name: string;
  introduction?: string;
  notification?: string;
  faceUrl?: string;
  members: string[];
  messages: LegacyGroupMessage[];
  disbanded: boolean;
}

export interface LegacyEmulatorCounters {
  writesApplied: number;
  /** Writes repeated with an Idempotency-Key already applied: answered OK, not applied again. */
  writesRepeated: number;
  writesRefused: number;
  eventsPosted: number;
  /** Attempts the gateway did not acknowledge (down, restarting, 5xx); each was retried. */
  eventRetries: number;
  /** Events the gateway refused for good (4xx); a correct emulator never has any. */
  eventsRefused: number;
  echoesPosted: number;
}

export interface LegacyAppUser {
  sendMessage(to: string, body: MsgBody, cloudCustomData?: string): Promise<LegacyMessage>;
  sendGroupMessage(groupId: string, body: MsgBody): Promise<LegacyGroupMessage>;
  createGroup(p: { groupId: string; groupType: GroupType; name: string; members?: string[] }): Promise<void>;
  changeGroupProfile(
    groupId: string,
    changes: { name?: string; introduction?: string; notification?: string; faceUrl?: string },
  ): Promise<void>;
  addMembers(groupId: string, members: string[]): Promise<void>;
  removeMembers(groupId: string, members: string[]): Promise<void>;
  disbandGroup(groupId: string): Promise<void>;
}

export interface LegacyEmulator {
  readonly baseUrl: string;
  /** Where events go (the gateway's base URL); events wait while it is unset. */
  setGatewayUrl(url: string | undefined): void;
  /** Refuse writes with HTTP 503 while set: the old system is down. */
  setUnavailable(down: boolean): void;
  asUser(userId: string): LegacyAppUser;
  /** A group the old system had before the sync started (no event). */
  addExistingGroup(g: Pick<LegacyGroup, 'groupId' | 'groupType' | 'name' | 'owner' | 'members'>): void;
  messages(): LegacyMessage[];
  groups(): LegacyGroup[];
  /** Every event the emulator's users caused, with the time it was first posted (ms). */
  sentEvents(): Array<{ event: LegacyEvent; firstPostedAtMs: number; ackedAtMs?: number }>;
  /** Writes applied, with the time they arrived (ms): the far end of new → old latency. */
  appliedWrites(): Array<{ write: LegacyWrite; atMs: number }>;
  counters(): LegacyEmulatorCounters;
  /** Resolves when every event queued so far was acknowledged. */
  eventsDrained(): Promise<void>;
  close(): Promise<void>;
}

export interface LegacyEmulatorOptions {
  secret: string;
  gatewayUrl?: string;
  host?: string;
  port?: number;
}

export async function startLegacyEmulator(opts: LegacyEmulatorOptions): Promise<LegacyEmulator> {
  const messages: LegacyMessage[] = [];
  const groups = new Map<string, LegacyGroup>();
  const counters: LegacyEmulatorCounters = {
    writesApplied: 0,
    writesRepeated: 0,
    writesRefused: 0,
    eventsPosted: 0,
    eventRetries: 0,
    eventsRefused: 0,
    echoesPosted: 0,
  };
  const appliedKeys = new Set<string>();
  const applied: Array<{ write: LegacyWrite; atMs: number }> = [];
  const sent: Array<{ event: LegacyEvent; firstPostedAtMs: number; ackedAtMs?: number }> = [];
  let gatewayUrl = opts.gatewayUrl;
  let unavailable = false;
  let closed = false;
  let seq = 0;
  const nowS = () => Math.floor(Date.now() / 1000);
  const nextId = (kind: string) => `${kind}-${Date.now().toString(36)}-${(++seq).toString(36)}`;

  // The routing service: one ordered queue per conversation or group, retried until acknowledged.
  const queues = new Map<string, Promise<void>>();
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const entityKey = (e: LegacyEvent) => (e.type === 'message' ? `c2c:${[e.from, e.to].sort().join('|')}` : `group:${e.groupId}`);
  function post(event: LegacyEvent): void {
    const record: (typeof sent)[number] = { event, firstPostedAtMs: Date.now() };
    if (!event.origin) sent.push(record);
    else counters.echoesPosted++;
    counters.eventsPosted++;
    const key = entityKey(event);
    const deliver = async () => {
      const body = JSON.stringify(event);
      for (let attempt = 0; !closed; attempt++) {
        if (attempt > 0) {
          counters.eventRetries++;
          await sleep(Math.min(2000, 50 * 2 ** Math.min(attempt, 6)));
        }
        if (!gatewayUrl) continue;
        try {
          const res = await postJson(`${gatewayUrl}${LEGACY_EVENTS_PATH}`, body, signedBridgeHeaders(opts.secret, body), 5000);
          if (res.ok) {
            record.ackedAtMs = Date.now();
            return;
          }
          if (res.status >= 400 && res.status < 500 && res.status !== 429) {
            counters.eventsRefused++;
            return;
          }
        } catch {
          // gateway down or restarting: retry
        }
      }
    };
    const next = (queues.get(key) ?? Promise.resolve()).then(deliver);
    queues.set(key, next);
    void next.then(() => {
      if (queues.get(key) === next) queues.delete(key);
    });
  }

  const requireGroup = (groupId: string): LegacyGroup => {
    const g = groups.get(groupId);
    if (!g || g.disbanded) throw new RefusedWrite(404, `group ${groupId} does not exist`);
    return g;
  };

  /** Applies a change to the store, whoever made it. */
  function apply(change: LegacyEvent | LegacyWrite): void {
    switch (change.type) {
      case 'message':
        messages.push({
          messageId: change.messageId,
          from: change.from,
          to: change.to,
          time: change.time,
          body: change.body,
          cloudCustomData: change.cloudCustomData,
          origin: change.origin,
        });
        return;
      case 'group.message':
        requireGroup(change.groupId).messages.push({
          messageId: change.messageId,
          from: change.from,
          time: change.time,
          body: change.body,
          origin: change.origin,
        });
        return;
      case 'group.created': {
        const existing = groups.get(change.groupId);
        if (existing && !existing.disbanded) throw new RefusedWrite(409, `group ${change.groupId} exists`);
        const members = [...new Set([...(change.owner ? [change.owner] : []), ...change.members])];
        const { groupId, groupType, owner, name, introduction, notification, faceUrl } = change;
        groups.set(groupId, {
          groupId,
          groupType,
          owner,
          name,
          introduction,
          notification,
          faceUrl,
          members,
          messages: [],
          disbanded: false,
        });
        return;
      }
      case 'group.disbanded':
        requireGroup(change.groupId).disbanded = true;
        return;
      case 'group.profile_changed':
        Object.assign(requireGroup(change.groupId), Object.fromEntries(Object.entries(change.changes).filter(([, v]) => v !== undefined)));
        return;
      case 'group.members_added': {
        const g = requireGroup(change.groupId);
        g.members = [...new Set([...g.members, ...change.members])];
        return;
      }
      case 'group.members_removed': {
        const g = requireGroup(change.groupId);
        g.members = g.members.filter((m) => !change.members.includes(m));
        return;
      }
    }
  }

  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.get('/health', async () => ({ ok: true }));
  app.post(LEGACY_WRITE_PATH, async (request, reply) => {
    const raw = typeof request.body === 'string' ? request.body : '';
    const h = (n: string) => request.headers[n] as string | undefined;
    if (unavailable) return reply.code(503).send({ error: 'old system unavailable' });
    const auth = verifyBridgeSignature(opts.secret, h(BRIDGE_HEADERS.timestamp), h(BRIDGE_HEADERS.signature), raw, nowS());
    if (!auth.ok) {
      counters.writesRefused++;
      return reply.code(401).send({ error: auth.reason });
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      counters.writesRefused++;
      return reply.code(400).send({ error: 'body is not JSON' });
    }
    const parsed = LegacyWrite.safeParse(json);
    if (!parsed.success) {
      counters.writesRefused++;
      return reply.code(400).send({ error: describeIssue(parsed.error) });
    }
    const key = h(BRIDGE_HEADERS.idempotencyKey) ?? parsed.data.origin.eventId;
    if (appliedKeys.has(key)) {
      counters.writesRepeated++;
      return { ok: true, repeated: true };
    }
    try {
      apply(parsed.data);
    } catch (err) {
      if (!(err instanceof RefusedWrite)) throw err;
      counters.writesRefused++;
      return reply.code(err.status).send({ error: err.message });
    }
    appliedKeys.add(key);
    applied.push({ write: parsed.data, atMs: Date.now() });
    counters.writesApplied++;
    // The old system tells its routing service, which posts the change back: with the origin.
    post({ ...parsed.data, eventId: nextId('echo') } as LegacyEvent);
    return { ok: true };
  });
  app.get('/__legacy/state', async () => ({ messages, groups: [...groups.values()] }));
  app.get('/__legacy/counters', async () => counters);

  await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const act = async (event: LegacyEvent): Promise<void> => {
    apply(event);
    post(event);
  };

  return {
    baseUrl: `http://${opts.host ?? '127.0.0.1'}:${port}`,
    setGatewayUrl: (url) => void (gatewayUrl = url),
    setUnavailable: (down) => void (unavailable = down),
    addExistingGroup: (g) => void groups.set(g.groupId, { ...g, members: [...g.members], messages: [], disbanded: false }),
    asUser: (userId) => ({
      async sendMessage(to, body, cloudCustomData) {
        const e = {
          eventId: nextId('ev'),
          type: 'message',
          messageId: nextId('msg'),
          from: userId,
          to,
          time: nowS(),
          body,
          cloudCustomData,
        } as const;
        await act(e);
        return messages[messages.length - 1];
      },
      async sendGroupMessage(groupId, body) {
        await act({ eventId: nextId('ev'), type: 'group.message', messageId: nextId('gmsg'), groupId, from: userId, time: nowS(), body });
        const g = requireGroup(groupId);
        return g.messages[g.messages.length - 1];
      },
      createGroup: (p) =>
        act({
          eventId: nextId('ev'),
          type: 'group.created',
          groupId: p.groupId,
          groupType: p.groupType,
          owner: userId,
          name: p.name,
          members: p.members ?? [],
          time: nowS(),
        }),
      changeGroupProfile: (groupId, changes) =>
        act({ eventId: nextId('ev'), type: 'group.profile_changed', groupId, changes, time: nowS() }),
      addMembers: (groupId, members) => act({ eventId: nextId('ev'), type: 'group.members_added', groupId, members, time: nowS() }),
      removeMembers: (groupId, members) => act({ eventId: nextId('ev'), type: 'group.members_removed', groupId, members, time: nowS() }),
      disbandGroup: (groupId) => act({ eventId: nextId('ev'), type: 'group.disbanded', groupId, time: nowS() }),
    }),
    messages: () => structuredClone(messages),
    groups: () => structuredClone([...groups.values()]),
    sentEvents: () => sent,
    appliedWrites: () => applied,
    counters: () => ({ ...counters }),
    eventsDrained: async () => {
      while (queues.size > 0) await Promise.all([...queues.values()]);
    },
    close: async () => {
      closed = true;
      await app.close();
    },
  };
}

class RefusedWrite extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
