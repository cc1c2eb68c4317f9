/**
 * Tencent Cloud IM REST APIs used by tim-migrate: one row per API, the only place their path,
 * rate limit and batch size are written down. The client, the emulator, the workers' task-queue
 * rate limits and the tests all read this table.
 *
 * Defaults are the newest documented values (../shared/docs/tencent-im-rest-api.md, "Batch-size
 * cheat sheet" and "QPS cheat sheet"); where the docs disagree we take the smaller, safer value.
 * Every limit can be overridden by a setting (see `resolveApiLimits`), because Tencent has been
 * shrinking batch sizes and some limits can be raised by a paid add-on.
 */

export type ImApiKind = 'import' | 'sync' | 'read';

export interface ImApiFacts {
  /** `<servicename>/<command>` after `/v4/`. */
  readonly path: string;
  /** Documented maximum calls per second per SDKAppID. */
  readonly callsPerSecond: number;
  /** Maximum items in one call (accounts, members, messages…); 1 where the API takes one item. */
  readonly maxItems: number;
  /** What the tool uses it for: historical import, live sync, or read-back verification. */
  readonly kind: ImApiKind;
}

export const IM_APIS = {
  // Accounts and profiles
  multiaccount_import: { path: 'im_open_login_svc/multiaccount_import', callsPerSecond: 100, maxItems: 100, kind: 'import' },
  account_import: { path: 'im_open_login_svc/account_import', callsPerSecond: 200, maxItems: 1, kind: 'import' },
  portrait_set: { path: 'profile/portrait_set', callsPerSecond: 200, maxItems: 1, kind: 'import' },
  // Relationship chain: one user's friends per call; the usage-limits page says 1000 per call.
  friend_import: { path: 'sns/friend_import', callsPerSecond: 200, maxItems: 1000, kind: 'import' },
  // One-to-one history
  importmsg: { path: 'openim/importmsg', callsPerSecond: 200, maxItems: 1, kind: 'import' },
  admin_set_msg_read: { path: 'openim/admin_set_msg_read', callsPerSecond: 200, maxItems: 1, kind: 'import' },
  // Groups
  import_group: { path: 'group_open_http_svc/import_group', callsPerSecond: 200, maxItems: 1, kind: 'import' },
  import_group_member: { path: 'group_open_http_svc/import_group_member', callsPerSecond: 200, maxItems: 20, kind: 'import' },
  import_group_msg: { path: 'group_open_http_svc/import_group_msg', callsPerSecond: 200, maxItems: 7, kind: 'import' },
  set_unread_msg_num: { path: 'group_open_http_svc/set_unread_msg_num', callsPerSecond: 200, maxItems: 1, kind: 'import' },
  // Live sync (old → new)
  sendmsg: { path: 'openim/sendmsg', callsPerSecond: 200, maxItems: 1, kind: 'sync' },
  create_group: { path: 'group_open_http_svc/create_group', callsPerSecond: 200, maxItems: 100, kind: 'sync' },
  modify_group_base_info: { path: 'group_open_http_svc/modify_group_base_info', callsPerSecond: 200, maxItems: 1, kind: 'sync' },
  add_group_member: { path: 'group_open_http_svc/add_group_member', callsPerSecond: 200, maxItems: 20, kind: 'sync' },
  delete_group_member: { path: 'group_open_http_svc/delete_group_member', callsPerSecond: 200, maxItems: 100, kind: 'sync' },
  send_group_msg: { path: 'group_open_http_svc/send_group_msg', callsPerSecond: 200, maxItems: 1, kind: 'sync' },
  destroy_group: { path: 'group_open_http_svc/destroy_group', callsPerSecond: 200, maxItems: 1, kind: 'sync' },
  // Read-back for verification (../shared/docs/tencent-im-read-apis.md)
  account_check: { path: 'im_open_login_svc/account_check', callsPerSecond: 100, maxItems: 100, kind: 'read' },
  portrait_get: { path: 'profile/portrait_get', callsPerSecond: 200, maxItems: 100, kind: 'read' },
  friend_get: { path: 'sns/friend_get', callsPerSecond: 200, maxItems: 1, kind: 'read' },
  admin_getroammsg: { path: 'openim/admin_getroammsg', callsPerSecond: 200, maxItems: 100, kind: 'read' },
  get_group_info: { path: 'group_open_http_svc/get_group_info', callsPerSecond: 200, maxItems: 50, kind: 'read' },
  get_group_member_info: { path: 'group_open_http_svc/get_group_member_info', callsPerSecond: 200, maxItems: 100, kind: 'read' },
  group_msg_get_simple: { path: 'group_open_http_svc/group_msg_get_simple', callsPerSecond: 200, maxItems: 20, kind: 'read' },
} as const satisfies Record<string, ImApiFacts>;

export type ImApiName = keyof typeof IM_APIS;
export const IM_API_NAMES = Object.keys(IM_APIS) as ImApiName[];

export interface ApiLimits {
  callsPerSecond: number;
  maxItems: number;
}
export type ApiLimitTable = Record<ImApiName, ApiLimits>;

/** Looks an API up by its `<servicename>/<command>` path (the emulator routes with this). */
export function apiByPath(path: string): ImApiName | undefined {
  return IM_API_NAMES.find((name) => IM_APIS[name].path === path);
}

/**
 * The limits in force: the table's defaults, overridden per API by settings named
 * `TIM_RATE_<API>` (calls per second) and `TIM_BATCH_<API>` (items per call), e.g.
 * `TIM_BATCH_IMPORT_GROUP_MEMBER=300` where your region still accepts 300.
 * Throws, naming the setting, when a value is not a positive integer or exceeds what IM accepts
 * for a fixed-size API.
 */
export function resolveApiLimits(env: Record<string, string | undefined> = process.env): ApiLimitTable {
  const table = {} as ApiLimitTable;
  for (const name of IM_API_NAMES) {
    const facts: ImApiFacts = IM_APIS[name];
    table[name] = {
      callsPerSecond: positiveNumberSetting(env, `TIM_RATE_${name.toUpperCase()}`, facts.callsPerSecond),
      maxItems: positiveNumberSetting(env, `TIM_BATCH_${name.toUpperCase()}`, facts.maxItems),
    };
    if (facts.maxItems === 1 && table[name].maxItems !== 1) {
      throw new Error(`setting TIM_BATCH_${name.toUpperCase()}: ${name} takes exactly one item per call`);
    }
  }
  return table;
}

function positiveNumberSetting(env: Record<string, string | undefined>, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0 || !Number.isInteger(value)) {
    throw new Error(`setting ${key}: expected a positive integer, got "${raw}"`);
  }
  return value;
}

/** Region → API domain (primary). The domain must match the region the SDKAppID was created in. */
export const IM_REGION_DOMAINS = {
  china: 'console.tim.qq.com',
  singapore: 'adminapisgp.im.qcloud.com',
  seoul: 'adminapikr.im.qcloud.com',
  frankfurt: 'adminapiger.im.qcloud.com',
  mumbai: 'adminapiind.im.qcloud.com',
  'silicon-valley': 'adminapiusa.im.qcloud.com',
  jakarta: 'adminapiidn.im.qcloud.com',
  tokyo: 'adminapijpn.im.qcloud.com',
  riyadh: 'adminapiksa.im.qcloud.com',
} as const;
export type ImRegion = keyof typeof IM_REGION_DOMAINS;

/** IM's own server-side timeout; callers must wait longer than this. */
export const IM_SERVER_TIMEOUT_MS = 3000;
/** IM waits this long for a callback answer. */
export const IM_CALLBACK_TIMEOUT_MS = 2000;
