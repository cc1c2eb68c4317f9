/**
 * The migration bundle: a directory of NDJSON files, one per entity, documented field by field in
 * docs/bundle-format.md. Each line is one record; these schemas are the types, and carry IM's
 * limits (im/messages.ts) so that bad data is found before anything is written to IM.
 */
import { z } from 'zod';
import {
  APPLY_JOIN_OPTIONS,
  FRIEND_RULES,
  GROUP_APP_DATA,
  GROUP_FIELD_MAX_BYTES,
  GROUP_MAX_MEMBER_COUNT,
  GROUP_TYPES,
  MAX_MESSAGE_BYTES,
  messageBytes,
  MsgBody,
  PROFILE_VALUE_MAX_BYTES,
  utf8Bytes,
} from '../im/messages';

/** Files of a bundle, in the order they are read (accounts and groups first: others refer to them). */
export const BUNDLE_FILES = {
  accounts: 'accounts.ndjson',
  groups: 'groups.ndjson',
  friendships: 'friendships.ndjson',
  messages: 'messages.ndjson',
  readMarks: 'read-marks.ndjson',
  groupMembers: 'group-members.ndjson',
  groupMessages: 'group-messages.ndjson',
} as const;
export type BundleEntity = keyof typeof BUNDLE_FILES;
export const BUNDLE_ENTITIES = Object.keys(BUNDLE_FILES) as BundleEntity[];

const maxBytes = (max: number) => (s: string) => utf8Bytes(s) <= max;
const text = (max: number) => z.string().refine(maxBytes(max), `longer than ${max} bytes`);
/** Old-system ids: any non-empty string; ids IM cannot take are mapped (legacy/id-mapping.ts). */
const oldId = z.string().min(1, 'must not be empty').max(256, 'longer than 256 characters');
/** Unix seconds between 2000-01-01 and now + 1 day (a clock skew allowance). */
const unixSeconds = z
  .number()
  .int('must be whole seconds')
  .min(946684800, 'before 2000-01-01 (milliseconds instead of seconds?)')
  .refine((t) => t <= Math.floor(Date.now() / 1000) + 86400, 'in the future (milliseconds instead of seconds?)');
const keyword = z.string().regex(/^[A-Za-z]{1,8}$/, 'must be 1 to 8 English letters');

export const AccountRecord = z.object({
  id: oldId,
  nick: text(PROFILE_VALUE_MAX_BYTES).optional(),
  faceUrl: text(PROFILE_VALUE_MAX_BYTES).optional(),
  gender: z.enum(['unknown', 'female', 'male']).optional(),
  /** YYYYMMDD, e.g. 19900419. */
  birthday: z.number().int().min(19000101).max(29991231).optional(),
  location: text(16).optional(),
  signature: text(PROFILE_VALUE_MAX_BYTES).optional(),
  allowType: z.enum(['needConfirm', 'allowAny', 'denyAny']).optional(),
  language: z.number().int().nonnegative().optional(),
  level: z.number().int().nonnegative().optional(),
  role: z.number().int().nonnegative().optional(),
  /** Custom profile fields: key → `Tag_Profile_Custom_<key>` (must be configured in the IM console). */
  custom: z.record(keyword, text(PROFILE_VALUE_MAX_BYTES)).optional(),
});
export type AccountRecord = z.infer<typeof AccountRecord>;

export const FriendshipRecord = z.object({
  owner: oldId,
  friend: oldId,
  remark: text(FRIEND_RULES.remarkMaxBytes).optional(),
  groups: z
    .array(z.string().min(1).refine(maxBytes(FRIEND_RULES.groupNameMaxBytes), `longer than ${FRIEND_RULES.groupNameMaxBytes} bytes`))
    .max(FRIEND_RULES.maxGroupsPerUser)
    .optional(),
  /** Keyword of `AddSource_Type_<addSource>`, e.g. "Android". */
  addSource: keyword,
  addWording: text(FRIEND_RULES.addWordingMaxBytes).optional(),
  addTime: unixSeconds.optional(),
  /** Custom friend fields: key → `Tag_SNS_Custom_<key>`. */
  custom: z.record(keyword, z.string()).optional(),
});
export type FriendshipRecord = z.infer<typeof FriendshipRecord>;

const sizedMessage = <T extends { body: unknown; cloudCustomData?: string }>(m: T) =>
  messageBytes(m.body, m.cloudCustomData) <= MAX_MESSAGE_BYTES;
const SIZE_ERROR = { message: `message larger than IM's ${MAX_MESSAGE_BYTES / 1024} KB limit`, path: ['body'] };

export const MessageRecord = z
  .object({
    id: oldId,
    from: oldId,
    to: oldId,
    time: unixSeconds,
    body: MsgBody,
    cloudCustomData: z.string().optional(),
  })
  .refine((m) => m.from !== m.to, { message: 'sender and receiver are the same account', path: ['to'] })
  .refine(sizedMessage, SIZE_ERROR);
export type MessageRecord = z.infer<typeof MessageRecord>;

export const ReadMarkRecord = z.object({ reader: oldId, peer: oldId, readUpTo: unixSeconds });
export type ReadMarkRecord = z.infer<typeof ReadMarkRecord>;

export const GroupRecord = z.object({
  id: oldId,
  type: z.enum(GROUP_TYPES),
  owner: oldId.optional(),
  name: z
    .string()
    .min(1, 'must not be empty')
    .refine(maxBytes(GROUP_FIELD_MAX_BYTES.Name), `longer than ${GROUP_FIELD_MAX_BYTES.Name} bytes`),
  introduction: text(GROUP_FIELD_MAX_BYTES.Introduction).optional(),
  notification: text(GROUP_FIELD_MAX_BYTES.Notification).optional(),
  faceUrl: text(GROUP_FIELD_MAX_BYTES.FaceUrl).optional(),
  createTime: unixSeconds.optional(),
  maxMembers: z.number().int().positive().max(GROUP_MAX_MEMBER_COUNT).optional(),
  applyJoin: z.enum(APPLY_JOIN_OPTIONS).optional(),
  appData: z
    .record(z.string().regex(GROUP_APP_DATA.keyPattern, 'key must be 1 to 16 of A-Z a-z 0-9 _'), text(GROUP_APP_DATA.valueMaxBytes))
    .refine((d) => Object.keys(d).length <= GROUP_APP_DATA.maxFields, `at most ${GROUP_APP_DATA.maxFields} fields`)
    .optional(),
});
export type GroupRecord = z.infer<typeof GroupRecord>;

export const GroupMemberRecord = z.object({
  group: oldId,
  account: oldId,
  role: z.enum(['owner', 'admin', 'member']).default('member'),
  joinTime: unixSeconds.optional(),
  unread: z.number().int().nonnegative().optional(),
});
export type GroupMemberRecord = z.infer<typeof GroupMemberRecord>;

export const GroupMessageRecord = z
  .object({ id: oldId, group: oldId, from: oldId, time: unixSeconds, body: MsgBody })
  .refine(sizedMessage, SIZE_ERROR);
export type GroupMessageRecord = z.infer<typeof GroupMessageRecord>;

export const RECORD_SCHEMAS = {
  accounts: AccountRecord,
  groups: GroupRecord,
  friendships: FriendshipRecord,
  messages: MessageRecord,
  readMarks: ReadMarkRecord,
  groupMembers: GroupMemberRecord,
  groupMessages: GroupMessageRecord,
} satisfies Record<BundleEntity, z.ZodType>;
export type BundleRecord<E extends BundleEntity> = z.infer<(typeof RECORD_SCHEMAS)[E]>;
