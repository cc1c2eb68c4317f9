/**
 * Old ids IM cannot accept are mapped to valid ones by one deterministic rule (docs/bundle-format.md,
 * "Id mapping"):
 *   - a user id that matches IM's safe form [A-Za-z0-9_-]{1,32} is kept as it is;
 *   - any other user id becomes `m_` + the first 26 characters of the lower-case base32 of the
 *     SHA-256 of its UTF-8 bytes (28 characters, inside the safe form);
 *   - a group id IM accepts as a custom GroupId (printable ASCII, ≤48 bytes, not `@TGS#…`) is kept;
 *     any other becomes `m_` + the same hash (Community groups: `@TGS#_m_` + hash, as IM requires).
 * The same old id always gives the same IM id, on every machine and every run. Every changed id
 * is recorded in the staging store, so both directions can be queried (the live sync needs new → old).
 */
import { createHash } from 'node:crypto';
import { COMMUNITY_GROUP_ID_PREFIX, isValidGroupId, isValidUserId, type GroupType } from '../im/messages';

export const MAPPED_ID_PREFIX = 'm_';
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

export function idHash(oldId: string): string {
  return base32(createHash('sha256').update(oldId, 'utf8').digest()).slice(0, 26);
}

export function toImUserId(oldId: string): string {
  return isValidUserId(oldId) ? oldId : MAPPED_ID_PREFIX + idHash(oldId);
}

export function toImGroupId(oldId: string, type: GroupType): string {
  if (isValidGroupId(oldId, type)) return oldId;
  return (type === 'Community' ? COMMUNITY_GROUP_ID_PREFIX : '') + MAPPED_ID_PREFIX + idHash(oldId);
}

/** 32 bits of the old message id's hash: one-to-one MsgRandom, imported or sent live. */
export function messageRandom(oldMessageId: string): number {
  return createHash('sha256').update(oldMessageId, 'utf8').digest().readUInt32BE(4);
}

/** The top bit of a uint32: set on every live group Random, never on an imported one. */
const LIVE_GROUP_RANDOM_BIT = 2 ** 31;

/**
 * Random of a group message the live sync sends (send_group_msg): the old id's hash, so a retried
 * send is dropped by IM as a duplicate, with the top bit set, so it never equals the Random of an
 * imported message (below 2^31, see importedMessageIdentity).
 */
export function liveGroupRandom(oldMessageId: string): number {
  return (messageRandom(oldMessageId) | LIVE_GROUP_RANDOM_BIT) >>> 0;
}

/** Where a one-to-one message stands: how many of its conversation's messages of the same second come before it. */
export interface C2CMessagePlace {
  oldId: string;
  earlierInSecond: number;
}
/** Where a group message stands: how many of the group's messages come before it. */
export interface GroupMessagePlace {
  earlierInGroup: number;
}

/**
 * What IM holds for an imported message, so that IM de-duplicates a retried, re-run or re-loaded
 * import and keeps the bundle's order (verification compares IM's answers with it).
 *
 * One-to-one (importmsg): IM drops a message whose (MsgSeq, MsgRandom, MsgTimeStamp) its conversation
 * already holds, and orders a second's messages by MsgSeq. So MsgSeq is the message's place among its
 * conversation's messages of that second (1, 2, …, in the staging store's order, which is the bundle's)
 * and MsgRandom the old id's hash: two messages of one conversation and second never share a key.
 * The place counts only the messages before it, and the store keeps each message where the load that
 * first brought it put it, putting those a later load adds after every message it holds (whatever
 * their lines): so a newer export never moves a message already held, nor changes its identity.
 * (A message whose time the newer export changes is a new message to IM anyway.) A new store loaded
 * from a newer export gives the same identities when the export lists each second's messages in the
 * same order as before, new ones last.
 *
 * Groups (import_group_msg): IM drops a message whose Random the group saw within 5 minutes. So
 * Random is the message's place in the group's history (1, 2, …): unique in the group, whatever the
 * hashes. Places only grow from one load to the next (a load removes no message, and moves only one
 * whose time it changes), and the import sends only messages after every one IM holds (IM takes a
 * group's history only oldest first): each has a place above the present, and so above every
 * earlier, place of every message IM holds.
 */
export function importedMessageIdentity(m: C2CMessagePlace): { msgSeq: number; msgRandom: number };
export function importedMessageIdentity(m: GroupMessagePlace): { random: number };
export function importedMessageIdentity(
  m: C2CMessagePlace | GroupMessagePlace,
): { msgSeq: number; msgRandom: number } | { random: number } {
  if (!('earlierInGroup' in m)) return { msgSeq: m.earlierInSecond + 1, msgRandom: messageRandom(m.oldId) };
  const random = m.earlierInGroup + 1;
  if (random >= LIVE_GROUP_RANDOM_BIT) {
    throw new Error(`a group history longer than ${LIVE_GROUP_RANDOM_BIT - 1} messages cannot be imported`);
  }
  return { random };
}
