/**
 * Settings of the Temporal side (address, namespace, task queues, concurrency) and the staging
 * store, from the environment (optionally a `.env` file), validated at start-up with one error that
 * names every bad setting. The same commands drive the local dev server and a real cluster.
 */
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { SourceAllowList } from '../gateway/callback-guards';
import { LARGEST_CALLBACK_BODY_BYTES } from '../im/callbacks';

/**
 * Threads that run workflow tasks in one worker process. One thread was the live sync's bottleneck
 * (busy 60–80 % at 50 events/s per app, so events queued behind each other's activations); two
 * halved its median latency in the benchmark. Each thread holds its own copy of the workflow code.
 */
export const DEFAULT_WORKFLOW_THREADS = 2;

export const TemporalSettings = z.object({
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'expected host:port')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TIM_TASK_QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only')
    .default('tim-migrate'),
  TIM_ACTIVITY_CONCURRENCY: z.coerce.number().int().positive().default(20),
  TIM_WORKFLOW_THREADS: z.coerce.number().int().min(1).max(16).default(DEFAULT_WORKFLOW_THREADS),
  TIM_STORE: z.string().min(1).default('tim-migrate.sqlite'),
});
export type TemporalSettings = z.infer<typeof TemporalSettings>;

/** Reads `.env` from the working directory once, without overriding variables already set. */
export function loadDotEnv(path = '.env'): void {
  if (existsSync(path)) process.loadEnvFile(path);
}

/** Parse settings, or throw one error naming each invalid setting. */
export function parseSettings<T extends z.ZodType>(schema: T, env: Record<string, string | undefined>): z.infer<T> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `  ${i.path.join('.') || '(settings)'}: ${i.message}`);
  throw new Error(`invalid settings:\n${problems.join('\n')}`);
}

export function loadTemporalSettings(env: Record<string, string | undefined> = process.env): TemporalSettings {
  return parseSettings(TemporalSettings, env);
}

/** A comma-separated list of IP addresses and CIDR ranges, each checked. */
const addressList = z.string().transform((text, ctx) => {
  try {
    return SourceAllowList.parse(text);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

/** Settings of the live sync: the old-system bridge, IM's callback checks, and where the gateway listens. */
export const SyncSettings = z.object({
  TIM_LEGACY_BRIDGE_URL: z.string().url('expected the old system’s base URL, e.g. https://old-im.internal:8443'),
  TIM_LEGACY_WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters (shared HMAC secret of the bridge)'),
  TIM_CALLBACK_TOKEN: z.string().min(1).optional(),
  TIM_CALLBACK_ALLOWED_IPS: addressList.optional(),
  /** Proxies whose X-Forwarded-For names the client; their own addresses or ranges, never "any". */
  TIM_GATEWAY_TRUSTED_PROXIES: addressList.transform((list) => [...list.entries]).optional(),
  TIM_GATEWAY_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(64 * 1024, 'must be at least 65536')
    .default(LARGEST_CALLBACK_BODY_BYTES),
  /** An event failing with neither a final error nor an outage is parked after this long (activities/sync.ts). */
  TIM_SYNC_PARK_AFTER_SECONDS: z.coerce.number().int().positive().default(900),
  /** Settled sync events keep their content (message bodies) this many days (workers/sync-workers.ts). */
  TIM_SYNC_JOURNAL_RETENTION_DAYS: z.coerce.number().int().positive().default(30),
  TIM_GATEWAY_HOST: z.string().min(1).default('0.0.0.0'),
  TIM_GATEWAY_PORT: z.coerce.number().int().min(1).max(65535).default(8787),
});
export type SyncSettings = z.infer<typeof SyncSettings>;

export function loadSyncSettings(env: Record<string, string | undefined> = process.env): SyncSettings {
  // An empty value (e.g. docker compose's `${TIM_CALLBACK_TOKEN:-}`) means unset.
  return parseSettings(SyncSettings, Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
}
