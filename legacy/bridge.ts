/**
 * The live bridge with the old system (docs/legacy-bridge.md): the events it posts to the gateway,
 * the writes the tool sends it, the HMAC that authenticates both, and the origin markers that stop
 * echo loops. Message bodies use IM's element list, as in the bundle.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { postJson } from './http-post';
import { GROUP_TYPES, MsgBody } from '../im/messages';

/** Headers of every signed request, in both directions. */
export const BRIDGE_HEADERS = { timestamp: 'x-tim-timestamp', signature: 'x-tim-signature', idempotencyKey: 'idempotency-key' } as const;
/** A request whose timestamp is further off than this is a replay. */
export const BRIDGE_MAX_CLOCK_SKEW_S = 300;
/** Path on the old system that receives the tool's writes. */
export const LEGACY_WRITE_PATH = '/tim-migrate/v1/writes';
/** Path on the gateway that receives the old system's events. */
export const LEGACY_EVENTS_PATH = '/legacy/events';

/** Lower-case hex HMAC-SHA256, under the shared secret, of `<timestamp>.<raw body>`. */
export function bridgeSignature(secret: string, timestamp: string | number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
}

export function signedBridgeHeaders(secret: string, body: string, nowS = Math.floor(Date.now() / 1000)): Record<string, string> {
  return {
    'content-type': 'application/json',
    [BRIDGE_HEADERS.timestamp]: String(nowS),
    [BRIDGE_HEADERS.signature]: bridgeSignature(secret, nowS, body),
  };
}

export function verifyBridgeSignature(
  secret: string,
  timestamp: string | undefined,
  signature: string | undefined,
  body: string,
  nowS: number,
): { ok: true } | { ok: false; reason: string } {
  if (!timestamp || !signature) return { ok: false, reason: `${BRIDGE_HEADERS.timestamp} or ${BRIDGE_HEADERS.signature} header missing` };
  if (!/^\d+$/.test(timestamp)) return { ok: false, reason: `${BRIDGE_HEADERS.timestamp} is not a Unix timestamp in seconds` };
  if (Math.abs(nowS - Number(timestamp)) > BRIDGE_MAX_CLOCK_SKEW_S)
    return { ok: false, reason: `${BRIDGE_HEADERS.timestamp} is more than ${BRIDGE_MAX_CLOCK_SKEW_S} s off` };
  const want = Buffer.from(bridgeSignature(secret, timestamp, body));
  const got = Buffer.from(signature.toLowerCase());
  if (want.length !== got.length || !timingSafeEqual(want, got)) return { ok: false, reason: `${BRIDGE_HEADERS.signature} does not match` };
  return { ok: true };
}

/** Written by the tool, echoed back by the old system on the events its writes cause. */
export const ORIGIN_SYSTEM = 'tim-migrate';
export const Origin = z.object({ system: z.literal(ORIGIN_SYSTEM), eventId: z.string().min(1) });
export type Origin = z.infer<typeof Origin>;

const id = z.string().min(1, 'must not be empty').max(256);
const time = z.number().int().positive('must be a Unix time in seconds');
const groupProfile = {
  name: z.string().min(1).optional(),
  introduction: z.string().optional(),
  notification: z.string().optional(),
  faceUrl: z.string().optional(),
};

/** What happened in the old system, as it tells the gateway and as the tool asks it to apply. */
const change = {
  message: z.object({
    type: z.literal('message'),
    messageId: id,
    from: id,
    to: id,
    time,
    body: MsgBody,
    cloudCustomData: z.string().optional(),
  }),
  'group.created': z.object({
    ...groupProfile,
    type: z.literal('group.created'),
    groupId: id,
    groupType: z.enum(GROUP_TYPES),
    owner: id.optional(),
    name: z.string().min(1),
    members: z.array(id).default([]),
    time,
  }),
  'group.disbanded': z.object({ type: z.literal('group.disbanded'), groupId: id, time }),
  'group.profile_changed': z.object({
    type: z.literal('group.profile_changed'),
    groupId: id,
    time,
    changes: z.object(groupProfile).refine((c) => Object.keys(c).length > 0, 'no field changed'),
  }),
  'group.members_added': z.object({ type: z.literal('group.members_added'), groupId: id, members: z.array(id).min(1), time }),
  'group.members_removed': z.object({ type: z.literal('group.members_removed'), groupId: id, members: z.array(id).min(1), time }),
  'group.message': z.object({
    type: z.literal('group.message'),
    messageId: id,
    groupId: id,
    from: id,
    time,
    body: MsgBody,
    cloudCustomData: z.string().optional(),
  }),
};
type Changes = typeof change;
const withEvent = <K extends keyof Changes>(k: K) => change[k].extend({ eventId: id, origin: Origin.optional() });
const withOrigin = <K extends keyof Changes>(k: K) => change[k].extend({ origin: Origin });

/** An event the old system posts to the gateway. `origin` is present only on echoes of the tool's own writes. */
export const LegacyEvent = z.discriminatedUnion('type', [
  withEvent('message'),
  withEvent('group.created'),
  withEvent('group.disbanded'),
  withEvent('group.profile_changed'),
  withEvent('group.members_added'),
  withEvent('group.members_removed'),
  withEvent('group.message'),
]);
export type LegacyEvent = z.infer<typeof LegacyEvent>;

/** A write the tool asks the old system to apply (a change made in IM), old ids throughout. */
export const LegacyWrite = z.discriminatedUnion('type', [
  withOrigin('message'),
  withOrigin('group.created'),
  withOrigin('group.disbanded'),
  withOrigin('group.profile_changed'),
  withOrigin('group.members_added'),
  withOrigin('group.members_removed'),
  withOrigin('group.message'),
]);
export type LegacyWrite = z.infer<typeof LegacyWrite>;

/** The first issue of a failed parse, as `field: reason`. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  return `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`;
}

/**
 * The origin marker in IM's CloudCustomData on messages the tool sends on the old system's behalf.
 * CloudCustomData is the app's own string: a JSON object gains one key; anything else is kept
 * whole under `cloudCustomData` beside the marker (docs/legacy-bridge.md).
 */
export const IM_ORIGIN_KEY = 'timMigrateOrigin';
export const IM_ORIGIN_VALUE = 'legacy';

export function withImOriginMarker(cloudCustomData: string | undefined): string {
  const parsed = parseObject(cloudCustomData);
  if (parsed) return JSON.stringify({ ...parsed, [IM_ORIGIN_KEY]: IM_ORIGIN_VALUE });
  return JSON.stringify(
    cloudCustomData === undefined ? { [IM_ORIGIN_KEY]: IM_ORIGIN_VALUE } : { [IM_ORIGIN_KEY]: IM_ORIGIN_VALUE, cloudCustomData },
  );
}

export function hasImOriginMarker(cloudCustomData: string | undefined): boolean {
  return parseObject(cloudCustomData)?.[IM_ORIGIN_KEY] === IM_ORIGIN_VALUE;
}

function parseObject(s: string | undefined): Record<string, unknown> | undefined {
  if (s === undefined || !s.trimStart().startsWith('{')) return undefined;
  try {
    const v: unknown = JSON.parse(s);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The outbound half of the bridge: applies a change made in IM to the old system. */
export interface LegacyWriter {
  write(w: LegacyWrite): Promise<void>;
}

/** Why the old system refused a write for good (4xx): the event is reported, not retried. */
export class LegacyWriteRejected extends Error {
  readonly type = 'legacy-rejected';
}

/** The HTTP implementation of the documented contract: one signed POST per write, idempotent by origin event id. */
export class HttpLegacyWriter implements LegacyWriter {
  private readonly url: URL;

  constructor(private readonly opts: { baseUrl: string; secret: string; timeoutMs?: number }) {
    this.url = new URL(LEGACY_WRITE_PATH, opts.baseUrl);
  }

  async write(w: LegacyWrite): Promise<void> {
    const body = JSON.stringify(w);
    const headers = { ...signedBridgeHeaders(this.opts.secret, body), [BRIDGE_HEADERS.idempotencyKey]: w.origin.eventId };
    const { ok, status, text } = await postJson(this.url, body, headers, this.opts.timeoutMs ?? 10_000).catch((err: Error) => {
      throw new Error(`old system unreachable: ${err.message}`);
    });
    if (ok) return;
    const reason = `old system answered HTTP ${status}: ${text.slice(0, 200)}`;
    // 408/429 and 5xx are transient; any other 4xx is the old system saying no for good.
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) throw new LegacyWriteRejected(reason);
    throw new Error(reason);
  }
}
