/**
 * Bundle records → staging-store rows (ids already mapped to IM ids). Pure, so the load can build
 * rows in its validation thread and leave only the SQLite writes to the main thread.
 */
import { msgBodyJson, type GroupType } from '../im/messages';
import type { BundleEntity, BundleRecord } from './bundle';
import { toImGroupId, toImUserId } from './id-mapping';

export type StoreTable = 'idMap' | 'account' | 'friendship' | 'message' | 'readMark' | 'group' | 'member' | 'groupMessage';
export type StoreRow = [StoreTable, ...Array<string | number | null>];

/** One builder per load: it remembers group types, which the ids of members and group messages depend on. */
export function createRowBuilder(): { [E in BundleEntity]: (r: BundleRecord<E>) => StoreRow[] } {
  const groupTypes = new Map<string, GroupType>();
  const imGroup = (oldId: string) => toImGroupId(oldId, groupTypes.get(oldId) ?? 'Public');
  const mapping = (kind: 'user' | 'group', oldId: string, imId: string): StoreRow[] =>
    oldId === imId ? [] : [['idMap', kind, oldId, imId]];
  return {
    accounts: (a) => {
      const imId = toImUserId(a.id);
      const { id: _id, ...profile } = a;
      return [...mapping('user', a.id, imId), ['account', imId, a.id, JSON.stringify(profile)]];
    },
    groups: (g) => {
      groupTypes.set(g.id, g.type);
      const imId = toImGroupId(g.id, g.type);
      const { id: _id, type, ...data } = g;
      return [
        ...mapping('group', g.id, imId),
        ['group', imId, g.id, type, JSON.stringify({ ...data, owner: g.owner !== undefined ? toImUserId(g.owner) : undefined })],
      ];
    },
    friendships: (f) => {
      const { owner, friend, ...data } = f;
      return [['friendship', toImUserId(owner), toImUserId(friend), JSON.stringify(data)]];
    },
    messages: (m) => {
      const from = toImUserId(m.from);
      const to = toImUserId(m.to);
      const [owner, peer] = from < to ? [from, to] : [to, from];
      return [['message', m.id, owner, peer, from, to, m.time, msgBodyJson(m.body), m.cloudCustomData ?? null]];
    },
    readMarks: (r) => {
      const reader = toImUserId(r.reader);
      const peer = toImUserId(r.peer);
      return [['readMark', reader, peer, reader < peer ? reader : peer, r.readUpTo]];
    },
    groupMembers: (m) => [['member', imGroup(m.group), toImUserId(m.account), m.role, m.joinTime ?? null, m.unread ?? 0]],
    groupMessages: (m) => [['groupMessage', m.id, imGroup(m.group), toImUserId(m.from), m.time, msgBodyJson(m.body)]],
  };
}
