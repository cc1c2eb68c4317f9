/**
 * Tencent IM error codes and what the tool does about each: the one table that maps a code to its
 * class. Activities turn an `ImError` into an ApplicationFailure whose type is the class, and
 * retry policies list the non-retryable classes, so no code matching happens anywhere else.
 *
 * Source: ../shared/docs/tencent-im-rest-api.md (public codes, per-API error lists, and
 * "Migration-relevant cross-cutting facts & recommended error classes").
 */
import { IM_APIS, type ImApiName } from './apis';

export const IM_ERROR_CLASSES = [
  /** Too many calls: back off and retry, never give up. */
  'rate-limited',
  /** Internal error, timeout or write conflict on IM's side: retry. */
  'retryable',
  /** The account or group the request names was never imported (or was dissolved). */
  'missing-reference',
  /** The request itself is wrong: retrying it unchanged cannot succeed. */
  'invalid',
  /** Too many items in one call: halve the batch and retry. */
  'batch-too-large',
  /** UserSig, admin, SDKAppID, IP allow-list, edition quota: a person must fix the configuration. */
  'auth-config',
  /** Message content refused (too long, sensitive words, blocked by a callback). */
  'content-rejected',
  /** The custom GroupId is already taken: our own earlier import, or someone else's group (get_group_info tells). */
  'already-exists',
] as const;
export type ImErrorClass = (typeof IM_ERROR_CLASSES)[number];

/** Classes an activity must not retry: the item goes to the failure report (or the run stops for config). */
export const NON_RETRYABLE_ERROR_CLASSES: readonly ImErrorClass[] = [
  'missing-reference',
  'invalid',
  'auth-config',
  'content-rejected',
  'already-exists',
  'batch-too-large',
];

interface ErrorFact {
  readonly errorClass: ImErrorClass;
  /** IM's own wording, condensed; the emulator answers with it as ErrorInfo. */
  readonly info: string;
}

const fact = (errorClass: ImErrorClass, info: string): ErrorFact => ({ errorClass, info });

export const IM_ERROR_CODES: Readonly<Record<number, ErrorFact>> = {
  // Public codes (all APIs)
  60002: fact('invalid', 'HTTP parse error, check the URL format'),
  60003: fact('invalid', 'HTTP request JSON parse error'),
  60004: fact('auth-config', 'identifier or usersig in the URL is wrong'),
  60005: fact('auth-config', 'identifier or usersig in the body is wrong'),
  60006: fact('auth-config', 'SDKAppID invalid'),
  60007: fact('rate-limited', 'REST API call frequency exceeded, reduce the request rate'),
  60008: fact('retryable', 'service request timeout or malformed HTTP request'),
  60009: fact('invalid', 'request resource error, check the request URL'),
  60010: fact('auth-config', 'the request needs App admin permission'),
  60011: fact('rate-limited', 'SDKAppID request frequency exceeded, reduce the request rate'),
  60012: fact('invalid', 'the request needs an SDKAppID, check sdkappid in the URL'),
  60013: fact('retryable', 'HTTP response JSON parse error'),
  60014: fact('retryable', 'account exchange timeout'),
  60015: fact('invalid', 'account type in the request body is wrong, account fields must be strings'),
  60016: fact('auth-config', 'SDKAppID is disabled'),
  60017: fact('auth-config', 'request is disabled'),
  60018: fact('rate-limited', 'requests too frequent, try again later'),
  60019: fact('rate-limited', 'requests too frequent, try again later'),
  60020: fact('auth-config', 'Pro package expired or stopped'),
  60021: fact('auth-config', 'REST API caller IP is not allowed'),
  80001: fact('content-rejected', 'message text hit the content-security filter'),
  80002: fact('content-rejected', 'message body too long, at most 12 KB'),
  80003: fact('retryable', 'before-send callback failed or timed out'),
  80004: fact('content-rejected', 'image content flagged'),
  // Accounts (70xxx)
  70001: fact('auth-config', 'UserSig expired'),
  70002: fact('auth-config', 'UserSig is empty'),
  70003: fact('auth-config', 'UserSig invalid'),
  70005: fact('auth-config', 'UserSig invalid'),
  70009: fact('auth-config', 'UserSig verification failed, check the key and SDKAppID'),
  70013: fact('auth-config', 'identifier does not match the UserID in the UserSig'),
  70014: fact('auth-config', 'SDKAppID does not match the SDKAppID in the UserSig'),
  70016: fact('auth-config', 'key not found for this SDKAppID'),
  70020: fact('auth-config', 'SDKAppID not found'),
  70050: fact('rate-limited', 'too many UserSig verifications, wait one minute'),
  70051: fact('auth-config', 'account is blacklisted'),
  70107: fact('missing-reference', 'requested account does not exist'),
  70169: fact('retryable', 'server internal timeout, try again later'),
  70202: fact('retryable', 'server internal timeout, try again later'),
  70206: fact('batch-too-large', 'batch count is invalid'),
  70398: fact('auth-config', 'account count over the limit of this edition'),
  70402: fact('invalid', 'invalid parameters'),
  70403: fact('auth-config', 'the request needs App admin permission'),
  70500: fact('retryable', 'server internal error, try again later'),
  72000: fact('auth-config', 'trial edition DAU over the free quota'),
  // Profile (40xxx)
  40001: fact('invalid', 'invalid parameters'),
  40002: fact('invalid', 'To_Account missing'),
  40003: fact('missing-reference', 'requested account does not exist'),
  40004: fact('auth-config', 'the request needs App admin permission'),
  40006: fact('retryable', 'server internal error, try again later'),
  40008: fact('invalid', 'no write permission on this profile field'),
  40009: fact('invalid', 'profile field tag does not exist'),
  40601: fact('invalid', 'profile field value longer than 500 bytes'),
  40605: fact('invalid', 'invalid value for a standard profile field'),
  40610: fact('invalid', 'profile field value type mismatch'),
  // Relationship chain (30xxx)
  30001: fact('invalid', 'invalid parameters'),
  30002: fact('auth-config', 'SDKAppID does not match'),
  30003: fact('missing-reference', 'requested account does not exist'),
  30004: fact('auth-config', 'the request needs App admin permission'),
  30006: fact('retryable', 'server internal error, try again later'),
  30007: fact('retryable', 'network timeout, try again later'),
  30008: fact('retryable', 'write conflict caused by concurrent writes, retry one at a time'),
  30010: fact('invalid', 'friend count reached the system limit'),
  30011: fact('invalid', 'friend group count reached the system limit'),
  // One-to-one messages (20xxx, 90xxx, 91xxx, 93xxx)
  20001: fact('invalid', 'invalid request'),
  20002: fact('auth-config', 'UserSig or A2 invalid'),
  20003: fact('missing-reference', 'sender or receiver UserID invalid or not imported'),
  20004: fact('retryable', 'network error, try again'),
  20005: fact('retryable', 'server internal error, try again'),
  20006: fact('content-rejected', 'blocked by the before-send callback'),
  90001: fact('invalid', 'JSON parse failed'),
  90002: fact('invalid', 'MsgBody does not match the message format'),
  90003: fact('missing-reference', 'To_Account missing or the account does not exist'),
  90005: fact('invalid', 'MsgRandom missing or not an integer'),
  90006: fact('invalid', 'MsgTimeStamp missing or not an integer'),
  90007: fact('invalid', 'MsgBody is not an array'),
  90008: fact('missing-reference', 'From_Account missing or the account does not exist'),
  90009: fact('auth-config', 'the request needs App admin permission'),
  90010: fact('invalid', 'JSON does not match the message format'),
  90012: fact('missing-reference', 'To_Account is not registered or not imported'),
  90026: fact('invalid', 'offline message storage time is wrong'),
  90030: fact('invalid', 'SyncFromOldSystem missing or not an integer'),
  90031: fact('invalid', 'SyncOtherMachine is not an integer'),
  90044: fact('invalid', 'MsgLifeTime is not an integer'),
  90048: fact('missing-reference', 'requested account does not exist'),
  90992: fact('retryable', 'server internal error, try again'),
  91000: fact('retryable', 'server internal error, try again'),
  93000: fact('content-rejected', 'JSON body too long, at most 12 KB'),
  // Groups (10xxx)
  10002: fact('retryable', 'server internal error, try again'),
  10003: fact('invalid', 'invalid command'),
  10004: fact('invalid', 'invalid parameters'),
  10005: fact('batch-too-large', 'too many accounts in the request'),
  10006: fact('rate-limited', 'operation frequency limit, try again later'),
  10007: fact('invalid', 'no permission for this operation or group type'),
  10010: fact('missing-reference', 'group does not exist or has been dissolved'),
  10014: fact('invalid', 'group is full'),
  10015: fact('invalid', 'invalid GroupId'),
  10016: fact('content-rejected', 'rejected by the before-event callback'),
  10017: fact('invalid', 'sender is muted'),
  10018: fact('invalid', 'response would exceed 1 MB, request less'),
  10019: fact('missing-reference', 'a requested account does not exist'),
  10020: fact('content-rejected', 'message too long, at most 12 KB'),
  10021: fact('already-exists', 'GroupId is already in use'),
  10023: fact('rate-limited', 'message send frequency exceeded, try again later'),
  10025: fact('already-exists', 'GroupId already used by yourself'),
  10026: fact('auth-config', 'this command is disabled for the SDKAppID'),
  10036: fact('auth-config', 'AVChatRoom quota exceeded'),
  10037: fact('auth-config', 'group quota of the account exceeded'),
  10038: fact('auth-config', 'member quota exceeded'),
  10058: fact('auth-config', 'trial edition group count over the limit'),
};

/** The group does not exist or was disbanded: for destroy_group, the work is already done. */
export const GROUP_NOT_FOUND_CODE = 10010;
/** import_group / create_group: the custom GroupId belongs to another group in IM (10025 says it is the caller's own). */
export const GROUP_ID_HELD_BY_OTHERS_CODE = 10021;

/**
 * Whole-call answers about the group itself, not the items of the call: it does not exist or was
 * dissolved (10010), its type takes no imports or we may not write to it (10007), its GroupId is
 * invalid (10015). Nothing more of that group can be imported.
 */
export const GROUP_UNUSABLE_CODES: readonly number[] = [GROUP_NOT_FOUND_CODE, 10007, 10015];

/** Codes the tool itself reports for failures below IM's JSON level. */
/** send_group_msg and client sends: the sender is muted (MuteAllMember On, or its own MuteUntil). */
export const SENDER_MUTED_CODE = 10017;
export const TRANSPORT_ERROR_CODE = -1;
export const RESPONSE_SHAPE_ERROR_CODE = -2;

/** An unknown code is retried (bounded by the retry policy), never silently skipped. */
export function classifyImErrorCode(code: number): ImErrorClass {
  return IM_ERROR_CODES[code]?.errorClass ?? 'retryable';
}

/** A code this table documents, or the client's own transport and response-shape codes: not an unknown answer of IM. */
export function isDocumentedOrTransport(code: number): boolean {
  return code in IM_ERROR_CODES || code === TRANSPORT_ERROR_CODE || code === RESPONSE_SHAPE_ERROR_CODE;
}

/** Rate-limited and retryable answers: a later call may succeed. */
export function isRetryableClass(errorClass: ImErrorClass): boolean {
  return !NON_RETRYABLE_ERROR_CLASSES.includes(errorClass);
}

/**
 * A whole call's class. An import API answered with its too-many code is batch-too-large even where
 * the code itself means bad parameters: sns has no too-many code and answers a too-long
 * AddFriendItem with 30001, so the workflow halves the batch (a single item still refused so is
 * reported as the activity sees fit).
 */
function classifyCall(api: ImApiName, code: number): ImErrorClass {
  if (IM_APIS[api].kind === 'import' && TOO_MANY_ITEMS_CODE[api] === code) return 'batch-too-large';
  return classifyImErrorCode(code);
}

export function imErrorInfo(code: number): string {
  return IM_ERROR_CODES[code]?.info ?? 'unknown error';
}

/** One IM failure: the API, the code and its class. */
export class ImError extends Error {
  readonly errorClass: ImErrorClass;
  constructor(
    readonly api: ImApiName,
    readonly code: number,
    readonly info: string,
    errorClass?: ImErrorClass,
  ) {
    super(`${api} failed with ${code}: ${info}`);
    this.name = 'ImError';
    this.errorClass = errorClass ?? classifyCall(api, code);
  }

  get retryable(): boolean {
    return isRetryableClass(this.errorClass);
  }
}

/**
 * Per-service and per-API codes: what a service answers for an internal error (retry), for a body
 * that does not match the documented shape, and what an API answers for too many items in one call.
 */
const SERVICE_CODES: Record<string, { retryable: number; invalidBody: number }> = {
  im_open_login_svc: { retryable: 70500, invalidBody: 70402 },
  profile: { retryable: 40006, invalidBody: 40001 },
  sns: { retryable: 30006, invalidBody: 30001 },
  openim: { retryable: 91000, invalidBody: 90001 },
  group_open_http_svc: { retryable: 10002, invalidBody: 10004 },
};
const serviceOf = (api: ImApiName) => IM_APIS[api].path.split('/')[0];

/** The code the API's service answers for an internal error that a retry cures. */
export function retryableCodeFor(api: ImApiName): number {
  return SERVICE_CODES[serviceOf(api)]?.retryable ?? 60008;
}
/** The code the API's service answers for a body that does not match the documented shape. */
export function invalidBodyCodeFor(api: ImApiName): number {
  return SERVICE_CODES[serviceOf(api)]?.invalidBody ?? 60003;
}
/** The code an API answers for more items than its per-call limit (IM_APIS maxItems). */
export const TOO_MANY_ITEMS_CODE: Partial<Record<ImApiName, number>> = {
  multiaccount_import: 70206,
  account_check: 70206,
  friend_import: 30001,
  portrait_get: 40001,
  import_group_member: 10005,
  import_group_msg: 10005,
  add_group_member: 10005,
  delete_group_member: 10005,
  create_group: 10005,
  get_group_info: 10004,
  group_msg_get_simple: 10004,
};
