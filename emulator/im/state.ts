/**
 * The emulator's in-memory IM: accounts, profiles, friends, one-to-one conversations, read marks,
 * groups with members and history. Indexed per conversation and per group, so no call scans
 * everything.
 */
import type { MsgBody } from '../../im/messages';

export interface C2CMessage {
  from: string;
  to: string;
  seq: number;
  random: number;
  time: number;
  key: string;
  body: MsgBody;
  cloudCustomData?: string;
  /** How it got here: 'import' (importmsg), 'rest' (sendmsg), or a client platform. */
  via: string;
}

export interface GroupMember {
  account: string;
  role: 'Owner' | 'Admin' | 'Member';
  joinTime: number;
  /** The member's read seq: unread = (nextSeq - 1) - readSeq. */
  readSeq: number;
}

export interface GroupMessage {
  seq: number;
  from: string;
  time: number;
  random: number;
  body: MsgBody;
  cloudCustomData?: string;
  via: string;
}

export interface Group {
  groupId: string;
  type: string;
  owner?: string;
  name: string;
  introduction: string;
  notification: string;
  faceUrl: string;
  maxMemberCount: number;
  applyJoinOption: string;
  createTime: number;
  /** Grows on every profile change; lastInfoTime is that change's time (get_group_info's InfoSeq, LastInfoTime). */
  infoSeq: number;
  lastInfoTime: number;
  muteAllMember: 'On' | 'Off';
  appDefinedData: Map<string, string>;
  members: Map<string, GroupMember>;
  messages: GroupMessage[];
  nextSeq: number;
  lastMsgTime: number;
  /** Recent send_group_msg Randoms with their time, for IM's 5-minute duplicate rule. */
  recentRandoms: Map<number, { seq: number; time: number }>;
}

export interface Friend {
  to: string;
  remark?: string;
  groupNames: string[];
  addSource: string;
  addWording?: string;
  addTime: number;
  custom: Map<string, string | number>;
}

export class ImState {
  readonly accounts = new Map<string, { profile: Map<string, string | number> }>();
  readonly friends = new Map<string, Map<string, Friend>>();
  /** Conversation key (sorted pair) → messages ordered by (time, seq). */
  readonly conversations = new Map<string, C2CMessage[]>();
  /** Conversation key → "seq|random|time" of imported messages (importmsg's duplicate rule). */
  readonly conversationTriples = new Map<string, Set<string>>();
  /** "reader|peer" → read-up-to time. */
  readonly readMarks = new Map<string, number>();
  readonly groups = new Map<string, Group>();
  /** sendmsg duplicates: "from|seq|random|content" → time and key. */
  readonly recentSends = new Map<string, { time: number; key: string }>();
  private autoGroupSeq = 1;

  constructor(
    readonly admin: string,
    /** The app's SDKAppID, which get_group_info answers as each group's Appid. */
    readonly sdkAppId: number,
  ) {
    this.ensureAccount(admin);
  }

  ensureAccount(id: string, nick?: string, face?: string): void {
    let account = this.accounts.get(id);
    if (!account) {
      account = { profile: new Map() };
      this.accounts.set(id, account);
    }
    if (nick !== undefined) account.profile.set('Tag_Profile_IM_Nick', nick);
    if (face !== undefined) account.profile.set('Tag_Profile_IM_Image', face);
  }

  hasAccount(id: string | undefined): boolean {
    return id !== undefined && this.accounts.has(id);
  }

  static conversationKey(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  /** Insert keeping (time, seq) order; appends in the common in-order case. */
  addC2C(msg: C2CMessage): void {
    const key = ImState.conversationKey(msg.from, msg.to);
    let list = this.conversations.get(key);
    if (!list) {
      list = [];
      this.conversations.set(key, list);
    }
    let i = list.length;
    while (i > 0 && (list[i - 1].time > msg.time || (list[i - 1].time === msg.time && list[i - 1].seq > msg.seq))) i--;
    list.splice(i, 0, msg);
  }

  newGroupId(): string {
    return `@TGS#2EMU${String(this.autoGroupSeq++).padStart(6, '0')}`;
  }

  unread(group: Group, member: GroupMember): number {
    return Math.max(0, group.nextSeq - 1 - member.readSeq);
  }

  /** Set a member's unread count, clamped to the group's message count as IM does. */
  setUnread(group: Group, member: GroupMember, count: number): void {
    const clamped = Math.max(0, Math.min(count, group.messages.length));
    member.readSeq = group.nextSeq - 1 - clamped;
  }

  clear(): void {
    this.accounts.clear();
    this.friends.clear();
    this.conversations.clear();
    this.conversationTriples.clear();
    this.readMarks.clear();
    this.groups.clear();
    this.recentSends.clear();
    this.ensureAccount(this.admin);
  }

  /** A plain-object view for tests and the inspection API. */
  snapshot() {
    return {
      accounts: [...this.accounts.entries()].map(([id, a]) => ({ id, profile: Object.fromEntries(a.profile) })),
      friends: Object.fromEntries(
        [...this.friends.entries()].map(([owner, list]) => [
          owner,
          [...list.values()].map((f) => ({ ...f, custom: Object.fromEntries(f.custom) })),
        ]),
      ),
      conversations: Object.fromEntries(this.conversations),
      readMarks: Object.fromEntries(this.readMarks),
      groups: Object.fromEntries(
        [...this.groups.entries()].map(([id, g]) => [
          id,
          {
            groupId: g.groupId,
            type: g.type,
            owner: g.owner,
            name: g.name,
            introduction: g.introduction,
            notification: g.notification,
            faceUrl: g.faceUrl,
            createTime: g.createTime,
            muteAllMember: g.muteAllMember,
            appDefinedData: Object.fromEntries(g.appDefinedData),
            members: [...g.members.values()].map((m) => ({ ...m, unread: this.unread(g, m) })),
            messages: g.messages,
          },
        ]),
      ),
    };
  }
}
export type EmulatorSnapshot = ReturnType<ImState['snapshot']>;
