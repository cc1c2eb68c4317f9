/**
 * IM's message format and data rules: element types (TIMMsgElement), id rules, byte limits.
 * The bundle validator, the client, the emulator and the tests all read these.
 * Source: ../shared/docs/tencent-im-rest-api.md ("Message elements", "(d) App admin identifier and
 * UserID rules", import_group, portrait_set, friend_import).
 */
import { z } from 'zod';

export const TextElem = z.object({ MsgType: z.literal('TIMTextElem'), MsgContent: z.object({ Text: z.string() }) });
export const LocationElem = z.object({
  MsgType: z.literal('TIMLocationElem'),
  MsgContent: z.object({ Desc: z.string(), Latitude: z.number(), Longitude: z.number() }),
});
export const FaceElem = z.object({
  MsgType: z.literal('TIMFaceElem'),
  MsgContent: z.object({ Index: z.number().int(), Data: z.string() }),
});
export const CustomElem = z.object({
  MsgType: z.literal('TIMCustomElem'),
  MsgContent: z.object({
    Data: z.string(),
    Desc: z.string().optional(),
    Ext: z.string().optional(),
    Sound: z.string().optional(),
  }),
});
/** REST must supply Url, UUID and Download_Flag=2. */
export const SoundElem = z.object({
  MsgType: z.literal('TIMSoundElem'),
  MsgContent: z.object({
    Url: z.string().min(1),
    UUID: z.string().min(1),
    Size: z.number().int().nonnegative().optional(),
    Second: z.number().int().nonnegative().optional(),
    Download_Flag: z.literal(2),
  }),
});
/** REST must supply UUID and, per image, URL, Width and Height. */
export const ImageElem = z.object({
  MsgType: z.literal('TIMImageElem'),
  MsgContent: z.object({
    UUID: z.string().min(1),
    ImageFormat: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4), z.literal(255)]),
    ImageInfoArray: z
      .array(
        z.object({
          Type: z.union([z.literal(1), z.literal(2), z.literal(3)]),
          Size: z.number().int().nonnegative().optional(),
          Width: z.number().int().nonnegative(),
          Height: z.number().int().nonnegative(),
          URL: z.string().min(1),
        }),
      )
      .min(1),
  }),
});
/** REST must supply Url, UUID and Download_Flag=2. */
export const FileElem = z.object({
  MsgType: z.literal('TIMFileElem'),
  MsgContent: z.object({
    Url: z.string().min(1),
    UUID: z.string().min(1),
    FileSize: z.number().int().nonnegative().optional(),
    FileName: z.string().optional(),
    Download_Flag: z.literal(2),
  }),
});
/** REST must supply VideoUrl, VideoUUID, ThumbUrl, ThumbUUID, ThumbWidth, ThumbHeight and both flags = 2. */
export const VideoFileElem = z.object({
  MsgType: z.literal('TIMVideoFileElem'),
  MsgContent: z.object({
    VideoUrl: z.string().min(1),
    VideoUUID: z.string().min(1),
    VideoSize: z.number().int().nonnegative().optional(),
    VideoSecond: z.number().int().nonnegative().optional(),
    VideoFormat: z.string().optional(),
    VideoDownloadFlag: z.literal(2),
    ThumbUrl: z.string().min(1),
    ThumbUUID: z.string().min(1),
    ThumbSize: z.number().int().nonnegative().optional(),
    ThumbWidth: z.number().int().nonnegative(),
    ThumbHeight: z.number().int().nonnegative(),
    ThumbFormat: z.string().optional(),
    ThumbDownloadFlag: z.literal(2),
  }),
});

export const MsgElement = z.discriminatedUnion('MsgType', [
  TextElem,
  LocationElem,
  FaceElem,
  CustomElem,
  SoundElem,
  ImageElem,
  FileElem,
  VideoFileElem,
]);
export type MsgElement = z.infer<typeof MsgElement>;
export const MSG_ELEMENT_TYPES = MsgElement.options.map((o) => o.shape.MsgType.value);
export type MsgElementType = MsgElement['MsgType'];

/** A message may combine elements but hold at most one custom element. */
export const MsgBody = z
  .array(MsgElement)
  .min(1)
  .refine((body) => body.filter((e) => e.MsgType === 'TIMCustomElem').length <= 1, {
    message: 'a message may hold at most one TIMCustomElem',
  });
export type MsgBody = z.infer<typeof MsgBody>;

/** Message size cap: IM refuses a message whose JSON (body plus cloud custom data) exceeds 12 KB. */
export const MAX_MESSAGE_BYTES = 12 * 1024;

/** Bytes a message occupies as IM measures it (UTF-8 JSON of the body and CloudCustomData). */
export function messageBytes(body: unknown, cloudCustomData?: string): number {
  return Buffer.byteLength(msgBodyJson(body), 'utf8') + (cloudCustomData ? Buffer.byteLength(cloudCustomData, 'utf8') : 0);
}

const bodyJson = new WeakMap<object, string>();
/** A message body's JSON, computed once per body object (the size check and the staging store both need it). */
export function msgBodyJson(body: unknown): string {
  if (body === null || typeof body !== 'object') return JSON.stringify(body);
  let json = bodyJson.get(body);
  if (json === undefined) {
    json = JSON.stringify(body);
    bodyJson.set(body, json);
  }
  return json;
}

export const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * UserID: IM allows ≤32 bytes of printable ASCII, but the docs and signing libraries advise
 * `[A-Za-z0-9_-]`; we accept only that and map everything else (legacy/ id mapping).
 */
export const USER_ID_MAX_BYTES = 32;
export const USER_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
/** Custom GroupId: printable ASCII 0x20–0x7e, ≤48 bytes, not starting with `@TGS#` (IM's own ids). */
export const GROUP_ID_MAX_BYTES = 48;
export const GROUP_ID_PATTERN = /^[\x20-\x7e]{1,48}$/;
export const RESERVED_GROUP_ID_PREFIX = '@TGS#';
/** Community group ids must start with this. */
export const COMMUNITY_GROUP_ID_PREFIX = '@TGS#_';

export function isValidUserId(id: string): boolean {
  return USER_ID_PATTERN.test(id);
}
export function isValidGroupId(id: string, type?: GroupType): boolean {
  if (!GROUP_ID_PATTERN.test(id)) return false;
  if (type === 'Community') return id.startsWith(COMMUNITY_GROUP_ID_PREFIX);
  return !id.startsWith(RESERVED_GROUP_ID_PREFIX);
}

export const GROUP_TYPES = ['Private', 'Public', 'ChatRoom', 'AVChatRoom', 'Community'] as const;
export type GroupType = (typeof GROUP_TYPES)[number];
/** IM cannot import these (import_group answers 10007); the import reports them as unsupported. */
export const NON_IMPORTABLE_GROUP_TYPES: readonly GroupType[] = ['AVChatRoom'];
/** Group types whose member unread counts IM keeps (set_unread_msg_num is ineffective on the others). */
export const UNREAD_COUNT_GROUP_TYPES: readonly GroupType[] = ['Private', 'Public', 'Community'];
export const APPLY_JOIN_OPTIONS = ['FreeAccess', 'NeedPermission', 'DisableApply'] as const;

/** Byte limits of group profile fields (import_group / create_group / modify_group_base_info). */
export const GROUP_FIELD_MAX_BYTES = { Name: 30, Introduction: 240, Notification: 300, FaceUrl: 100 } as const;
export const GROUP_MAX_MEMBER_COUNT = 6000;
/** A Community group's member cap (its MaxMemberCount default): the largest member list IM sends. */
export const COMMUNITY_MAX_MEMBER_COUNT = 100_000;
export const GROUP_APP_DATA = { maxFields: 10, keyMaxBytes: 16, keyPattern: /^[A-Za-z0-9_]{1,16}$/, valueMaxBytes: 512 } as const;

/** Standard profile tags and their value kinds (portrait_set). */
export const PROFILE_TAGS = {
  nick: { tag: 'Tag_Profile_IM_Nick', kind: 'string', maxBytes: 500 },
  gender: { tag: 'Tag_Profile_IM_Gender', kind: 'string', values: ['Gender_Type_Unknown', 'Gender_Type_Female', 'Gender_Type_Male'] },
  birthday: { tag: 'Tag_Profile_IM_BirthDay', kind: 'uint32' },
  location: { tag: 'Tag_Profile_IM_Location', kind: 'string', maxBytes: 16 },
  signature: { tag: 'Tag_Profile_IM_SelfSignature', kind: 'string', maxBytes: 500 },
  allowType: {
    tag: 'Tag_Profile_IM_AllowType',
    kind: 'string',
    values: ['AllowType_Type_NeedConfirm', 'AllowType_Type_AllowAny', 'AllowType_Type_DenyAny'],
  },
  language: { tag: 'Tag_Profile_IM_Language', kind: 'uint32' },
  faceUrl: { tag: 'Tag_Profile_IM_Image', kind: 'string', maxBytes: 500 },
  adminForbidType: { tag: 'Tag_Profile_IM_AdminForbidType', kind: 'string', values: ['AdminForbid_Type_None', 'AdminForbid_Type_SendOut'] },
  level: { tag: 'Tag_Profile_IM_Level', kind: 'uint32' },
  role: { tag: 'Tag_Profile_IM_Role', kind: 'uint32' },
} as const;
/** Custom profile fields: `Tag_Profile_Custom_` + ≤8 English letters, string values ≤500 bytes. */
export const CUSTOM_PROFILE_TAG_PATTERN = /^Tag_Profile_Custom_[A-Za-z]{1,8}$/;
export const PROFILE_VALUE_MAX_BYTES = 500;

/** Friend (relationship chain) rules of friend_import. */
export const FRIEND_RULES = {
  maxFriendsPerUser: 3000,
  remarkMaxBytes: 96,
  maxGroupsPerUser: 32,
  groupNameMaxBytes: 30,
  addWordingMaxBytes: 256,
  addSourcePattern: /^AddSource_Type_[A-Za-z]{1,8}$/,
  customTagPattern: /^Tag_SNS_Custom_[A-Za-z]{1,8}$/,
} as const;

/** importmsg: 2 = history (no unread, no push); 5 = live import during a smooth transition. */
export const SYNC_FROM_OLD_SYSTEM = { history: 2, realtime: 5 } as const;
/** sendmsg `SyncOtherMachine`: 1 = also to the sender's other devices and roaming, 2 = not to the sender. */
export const SYNC_OTHER_MACHINE = { withSender: 1, withoutSender: 2 } as const;
/** add_group_member / delete_group_member `Silence`: 1 = no group notification (only the members concerned). */
export const SILENT_MEMBER_CHANGE = 1;

/** uint32 range used by MsgRandom, MsgSeq and Random. */
export const UINT32_MAX = 0xffffffff;
/** import_group_msg and send_group_msg: a group message whose Random the group saw this recently is dropped as a duplicate. */
export const GROUP_RANDOM_DUPLICATE_SECONDS = 300;

/**
 * import_group_msg takes only messages newer than the group's newest (tencent-im-rest-api.md #8): once
 * a live message is in, the group's older history can never go in.
 */
export const OLDER_THAN_NEWEST_REASON = "older than the group's newest message in IM";

/**
 * How a group's history import hands over to members who can already post (App 2.0):
 * - 'mute': MuteAllMember On from before its members go in until its history has (modify_group_base_info),
 *   then the group's own setting again; whatever still lands first (whether MuteAllMember also mutes
 *   the owner and admins is UNCONFIRMED) sends the history it overtakes to the failure report;
 * - 'report': no mute, only the failure report (for apps where muting is not wanted or modify_group_base_info is disabled, 10026).
 * Importing history before members would leave the owner able to post, and whether import_group_msg
 * needs From_Account to be a member is UNCONFIRMED: if it does, every message would fail.
 */
export const GROUP_HISTORY_HANDOFFS = ['mute', 'report'] as const;
export type GroupHistoryHandoff = (typeof GROUP_HISTORY_HANDOFFS)[number];
export const DEFAULT_GROUP_HISTORY_HANDOFF: GroupHistoryHandoff = 'mute';
