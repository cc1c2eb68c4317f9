/**
 * IM settings from the environment, validated at start-up. The secret key is checked but never
 * echoed; `describeImConfig` is what logs may show.
 */
import { z } from 'zod';
import { IM_REGION_DOMAINS, IM_SERVER_TIMEOUT_MS, resolveApiLimits, type ApiLimitTable, type ImRegion } from './apis';
import type { ImClientOptions } from './client';
import { DEFAULT_GROUP_HISTORY_HANDOFF, GROUP_HISTORY_HANDOFFS, USER_ID_PATTERN, type GroupHistoryHandoff } from './messages';

const regions = Object.keys(IM_REGION_DOMAINS) as [ImRegion, ...ImRegion[]];

export const ImSettings = z.object({
  TIM_SDKAPPID: z.coerce.number({ message: 'expected the numeric SDKAppID' }).int().positive(),
  TIM_SECRET_KEY: z
    .string({ message: 'missing (the app SecretKey from the IM console)' })
    .min(1, 'missing (the app SecretKey from the IM console)'),
  TIM_ADMIN: z
    .string({ message: 'missing (an App admin UserID)' })
    .regex(USER_ID_PATTERN, 'expected an App admin UserID ([A-Za-z0-9_-], at most 32 characters)'),
  TIM_REGION: z.enum(regions).default('singapore'),
  TIM_BASE_URL: z.string().url().optional(),
  /**
   * `Accounts` is the safe default: the `AccountList` shape (nick and face in the same call) is only
   * in the newest docs and its acceptance per region is UNCONFIRMED.
   */
  TIM_ACCOUNT_IMPORT_SHAPE: z.enum(['Accounts', 'AccountList']).default('Accounts'),
  TIM_REQUEST_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .gt(IM_SERVER_TIMEOUT_MS, `must exceed IM's own ${IM_SERVER_TIMEOUT_MS} ms`)
    .default(10_000),
  /** How a group's history import keeps App 2.0 posts from overtaking it (im/messages.ts). */
  TIM_GROUP_HISTORY_HANDOFF: z.enum(GROUP_HISTORY_HANDOFFS).default(DEFAULT_GROUP_HISTORY_HANDOFF),
});

export interface ImConfig {
  client: ImClientOptions;
  accountImportShape: 'Accounts' | 'AccountList';
  groupHistoryHandoff: GroupHistoryHandoff;
  limits: ApiLimitTable;
}

/** Throws one error naming every missing or invalid IM setting (values of secrets are never shown). */
export function loadImConfig(env: Record<string, string | undefined> = process.env): ImConfig {
  const parsed = ImSettings.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')));
  const problems = parsed.success ? [] : parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
  let limits: ApiLimitTable | undefined;
  try {
    limits = resolveApiLimits(env);
  } catch (err) {
    problems.push(`  ${(err as Error).message.replace(/^setting /, '')}`);
  }
  if (!parsed.success || !limits) throw new Error(`invalid IM settings:\n${problems.join('\n')}`);
  const s = parsed.data;
  return {
    client: {
      sdkAppId: s.TIM_SDKAPPID,
      secretKey: s.TIM_SECRET_KEY,
      admin: s.TIM_ADMIN,
      region: s.TIM_REGION,
      baseUrl: s.TIM_BASE_URL,
      timeoutMs: s.TIM_REQUEST_TIMEOUT_MS,
    },
    accountImportShape: s.TIM_ACCOUNT_IMPORT_SHAPE,
    groupHistoryHandoff: s.TIM_GROUP_HISTORY_HANDOFF,
    limits,
  };
}

export function describeImConfig(config: ImConfig): string {
  const target = config.client.baseUrl ?? `https://${IM_REGION_DOMAINS[config.client.region ?? 'singapore']}`;
  return `IM ${target} SDKAppID ${config.client.sdkAppId} admin ${config.client.admin} (secret key set), accounts via ${config.accountImportShape}, group history handoff '${config.groupHistoryHandoff}'`;
}
