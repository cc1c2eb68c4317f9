/**
 * A deterministic sample bundle of realistic shape: heavy-tailed friend and message counts (a few
 * very active users, many quiet ones), every element type, every group type (one AVChatRoom, which
 * IM cannot import), read marks and unread counts. Written line by line, so a million messages
 * need no more memory than ten. `withErrors` adds a known set of bad records (SAMPLE_ERRORS).
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { GroupType, MsgElement } from '../im/messages';
import { BUNDLE_FILES, type BundleEntity } from './bundle';

export interface SampleOptions {
  seed: number;
  users: number;
  groups: number;
  messages: number;
  groupMessages: number;
  withErrors?: boolean;
  /** Timestamps end here (default: a fixed day, so output does not depend on the clock). */
  endTime?: number;
}

export const SAMPLE_DEFAULTS: Omit<SampleOptions, 'seed'> = { users: 60, groups: 8, messages: 3000, groupMessages: 1500 };

/** The bad records `withErrors` appends: entity, then what validate must say about that line. */
export const SAMPLE_ERRORS: Array<{ entity: BundleEntity; field: string; reason: RegExp }> = [
  { entity: 'accounts', field: 'id', reason: /duplicate account id/ },
  { entity: 'accounts', field: '', reason: /not valid JSON/ },
  { entity: 'groups', field: 'type', reason: /Invalid option|expected one of/i },
  { entity: 'friendships', field: 'friend', reason: /unknown account/ },
  { entity: 'messages', field: 'to', reason: /unknown account/ },
  { entity: 'messages', field: 'body', reason: /12 KB/ },
  { entity: 'messages', field: 'body.0.MsgContent.UUID', reason: /.+/ },
  { entity: 'messages', field: 'time', reason: /milliseconds instead of seconds/ },
  { entity: 'groupMembers', field: 'group', reason: /unknown group/ },
  { entity: 'groupMessages', field: 'id', reason: /duplicate group message id/ },
];

/** mulberry32: small, fast, deterministic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class NdjsonWriter {
  private readonly streams = new Map<BundleEntity, WriteStream>();
  readonly lines: Record<string, number> = {};
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }
  async write(entity: BundleEntity, record: unknown): Promise<number> {
    return this.writeRaw(entity, JSON.stringify(record));
  }
  async writeRaw(entity: BundleEntity, line: string): Promise<number> {
    let stream = this.streams.get(entity);
    if (!stream) {
      stream = createWriteStream(join(this.dir, BUNDLE_FILES[entity]));
      this.streams.set(entity, stream);
    }
    this.lines[entity] = (this.lines[entity] ?? 0) + 1;
    if (!stream.write(line + '\n')) await new Promise<void>((r) => stream!.once('drain', () => r()));
    return this.lines[entity];
  }
  async close(): Promise<void> {
    await Promise.all([...this.streams.values()].map((s) => new Promise<void>((r) => s.end(() => r()))));
  }
}

export interface SampleResult {
  dir: string;
  counts: Record<string, number>;
  /** Where each deliberate error is: file and line. */
  errors: Array<{ file: string; line: number; field: string; reason: RegExp }>;
}

export async function writeSampleBundle(dir: string, opts: SampleOptions): Promise<SampleResult> {
  const rand = prng(opts.seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  /** Zipf-like: low indexes (active users) come up far more often. */
  const heavy = (n: number) => Math.min(n - 1, Math.floor(n * Math.pow(rand(), 2.2)));
  const end = opts.endTime ?? 1_760_000_000;
  const start = end - 400 * 86400;
  const out = new NdjsonWriter(dir);
  const errors: SampleResult['errors'] = [];

  const users = Array.from({ length: opts.users }, (_, i) => (i % 17 === 5 ? `user.${i}@old-im` : `u${String(i).padStart(5, '0')}`));
  for (const [i, id] of users.entries()) {
    await out.write('accounts', {
      id,
      nick: i % 9 === 0 ? `用户${i}` : `User ${i}`,
      faceUrl: `https://cdn.example.com/avatars/${i}.png`,
      gender: pick(['unknown', 'female', 'male'] as const),
      birthday: 19700101 + Math.floor(rand() * 35) * 10000 + 101,
      location: 'CN-GD',
      signature: i % 4 === 0 ? 'Hello from the old app' : undefined,
      allowType: pick(['needConfirm', 'allowAny', 'denyAny'] as const),
      language: i % 3,
      level: Math.floor(rand() * 10),
      role: 0,
      custom: i % 5 === 0 ? { Hobby: 'chess' } : undefined,
    });
  }

  const pairs = new Set<string>();
  for (let n = 0; n < opts.users * 4; n++) {
    const a = users[heavy(users.length)];
    const b = pick(users);
    if (a === b || pairs.has(`${a}|${b}`)) continue;
    pairs.add(`${a}|${b}`);
    pairs.add(`${b}|${a}`);
    const since = start + Math.floor(rand() * 100 * 86400);
    await out.write('friendships', {
      owner: a,
      friend: b,
      remark: rand() < 0.3 ? `Friend ${b}` : undefined,
      groups: rand() < 0.4 ? ['Family'] : undefined,
      addSource: 'Android',
      addTime: since,
    });
    await out.write('friendships', { owner: b, friend: a, addSource: 'iOS', addWording: 'Hi!', addTime: since });
  }

  const element = (i: number): MsgElement => {
    switch (i % 10) {
      case 1:
        return {
          MsgType: 'TIMImageElem',
          MsgContent: {
            UUID: `img-${i}`,
            ImageFormat: 3,
            ImageInfoArray: [{ Type: 1, Size: 2048, Width: 640, Height: 480, URL: `https://cdn.example.com/img/${i}.png` }],
          },
        };
      case 2:
        return {
          MsgType: 'TIMFileElem',
          MsgContent: {
            Url: `https://cdn.example.com/f/${i}.pdf`,
            UUID: `file-${i}`,
            FileSize: 10240,
            FileName: `report-${i}.pdf`,
            Download_Flag: 2,
          },
        };
      case 3:
        return {
          MsgType: 'TIMSoundElem',
          MsgContent: { Url: `https://cdn.example.com/s/${i}.m4a`, UUID: `snd-${i}`, Size: 4096, Second: 5, Download_Flag: 2 },
        };
      case 4:
        return {
          MsgType: 'TIMVideoFileElem',
          MsgContent: {
            VideoUrl: `https://cdn.example.com/v/${i}.mp4`,
            VideoUUID: `vid-${i}`,
            VideoSize: 99999,
            VideoSecond: 12,
            VideoFormat: 'mp4',
            VideoDownloadFlag: 2,
            ThumbUrl: `https://cdn.example.com/v/${i}.jpg`,
            ThumbUUID: `th-${i}`,
            ThumbWidth: 320,
            ThumbHeight: 240,
            ThumbFormat: 'JPG',
            ThumbDownloadFlag: 2,
          },
        };
      case 5:
        return { MsgType: 'TIMLocationElem', MsgContent: { Desc: 'Office', Latitude: 22.54, Longitude: 113.93 } };
      case 6:
        return { MsgType: 'TIMFaceElem', MsgContent: { Index: i % 30, Data: 'smile' } };
      case 7:
        return { MsgType: 'TIMCustomElem', MsgContent: { Data: JSON.stringify({ kind: 'order', id: i }), Desc: 'Order update' } };
      default:
        return { MsgType: 'TIMTextElem', MsgContent: { Text: i % 11 === 0 ? `消息 ${i}：你好` : `Message ${i}: see you at ${i % 24}:00` } };
    }
  };

  // One-to-one: a heavy-tailed set of conversations, times increasing, some sharing a second.
  const lastRead = new Map<string, number>();
  let time = start;
  for (let i = 0; i < opts.messages; i++) {
    const from = users[heavy(users.length)];
    let to = users[heavy(users.length)];
    if (to === from) to = users[(users.indexOf(from) + 1) % users.length];
    time += rand() < 0.1 ? 0 : 1 + Math.floor(rand() * ((end - start) / Math.max(1, opts.messages)) * 1.8);
    await out.write('messages', {
      id: `c2c-${i}`,
      from,
      to,
      time: Math.min(time, end),
      body: [element(i)],
      cloudCustomData: i % 13 === 0 ? '{"via":"old-app"}' : undefined,
    });
    if (rand() < 0.7) lastRead.set(`${to}|${from}`, Math.min(time, end));
  }
  for (const [key, readUpTo] of lastRead) {
    const [reader, peer] = key.split('|');
    await out.write('readMarks', { reader, peer, readUpTo });
  }

  // Groups: every type, one AVChatRoom; one with an id IM cannot take as is.
  const types: GroupType[] = ['Public', 'Private', 'ChatRoom', 'Community', 'AVChatRoom'];
  const groups = Array.from({ length: opts.groups }, (_, i) => {
    const type = types[i % types.length];
    const id = type === 'Community' ? `@TGS#_community-${i}` : i === 1 ? `群组 ${i}` : `group-${i}`;
    return { id, type, owner: users[i % users.length], createTime: start + i * 3600 };
  });
  const memberLists = new Map<string, string[]>();
  for (const g of groups) {
    await out.write('groups', {
      id: g.id,
      type: g.type,
      owner: g.owner,
      name: `Group ${g.id.slice(-4)}`,
      introduction: 'Imported from the old app',
      notification: 'Be nice',
      faceUrl: 'https://cdn.example.com/g.png',
      createTime: g.createTime,
      maxMembers: 500,
      applyJoin: g.type === 'Community' ? undefined : 'NeedPermission',
      appData: g.type === 'Public' ? { topic: 'general' } : undefined,
    });
    const size = 3 + heavy(Math.min(users.length, 40));
    const members = new Set<string>([g.owner]);
    while (members.size < Math.min(size, users.length)) members.add(pick(users));
    memberLists.set(g.id, [...members]);
  }
  // Group history: times strictly after creation; members join before they speak.
  const groupLast = new Map(groups.map((g) => [g.id, g.createTime + 60]));
  const groupCounts = new Map<string, number>();
  for (let i = 0; i < opts.groupMessages; i++) {
    const g = groups[heavy(groups.length)];
    const t = (groupLast.get(g.id) ?? g.createTime) + (rand() < 0.1 ? 0 : 1 + Math.floor(rand() * 3000));
    groupLast.set(g.id, t);
    await out.write('groupMessages', {
      id: `grp-${i}`,
      group: g.id,
      from: pick(memberLists.get(g.id)!),
      time: Math.min(t, end),
      body: [element(i + 3)],
    });
    groupCounts.set(g.id, (groupCounts.get(g.id) ?? 0) + 1);
  }
  for (const g of groups) {
    for (const [j, account] of memberLists.get(g.id)!.entries()) {
      const unread = j > 0 && rand() < 0.5 ? Math.floor(rand() * Math.min(20, groupCounts.get(g.id) ?? 0)) : 0;
      await out.write('groupMembers', {
        group: g.id,
        account,
        role: account === g.owner ? 'owner' : j % 7 === 1 ? 'admin' : 'member',
        joinTime: g.createTime + 1 + j,
        unread,
      });
    }
  }

  if (opts.withErrors) {
    const bad = async (entity: BundleEntity, index: number, line: string) => {
      const at = await out.writeRaw(entity, line);
      const e = SAMPLE_ERRORS[index];
      errors.push({ file: BUNDLE_FILES[entity], line: at, field: e.field, reason: e.reason });
    };
    const text = (t: string) => [{ MsgType: 'TIMTextElem', MsgContent: { Text: t } }];
    await bad('accounts', 0, JSON.stringify({ id: users[0], nick: 'Duplicate' }));
    await bad('accounts', 1, '{"id": "broken", "nick": ');
    await bad('groups', 2, JSON.stringify({ id: 'bad-type', type: 'Channel', name: 'Nope' }));
    await bad('friendships', 3, JSON.stringify({ owner: users[0], friend: 'ghost', addSource: 'Web' }));
    await bad('messages', 4, JSON.stringify({ id: 'err-1', from: users[0], to: 'ghost', time: end - 10, body: text('to nobody') }));
    await bad(
      'messages',
      5,
      JSON.stringify({ id: 'err-2', from: users[0], to: users[1], time: end - 9, body: text('x'.repeat(13 * 1024)) }),
    );
    await bad(
      'messages',
      6,
      JSON.stringify({
        id: 'err-3',
        from: users[0],
        to: users[1],
        time: end - 8,
        body: [
          {
            MsgType: 'TIMImageElem',
            MsgContent: { ImageFormat: 3, ImageInfoArray: [{ Type: 1, Width: 1, Height: 1, URL: 'https://x/y.png' }] },
          },
        ],
      }),
    );
    await bad('messages', 7, JSON.stringify({ id: 'err-4', from: users[0], to: users[1], time: end * 1000, body: text('ms') }));
    await bad('groupMembers', 8, JSON.stringify({ group: 'no-such-group', account: users[0] }));
    await bad(
      'groupMessages',
      9,
      JSON.stringify({ id: 'grp-0', group: groups[0].id, from: groups[0].owner, time: end - 5, body: text('dup') }),
    );
  }
  await out.close();
  return { dir, counts: { ...out.lines }, errors };
}
