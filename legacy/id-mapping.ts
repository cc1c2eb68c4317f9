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

/**
 * IM-side message identifiers derived from the old message id by a stable hash, so a retried or
 * re-run import is de-duplicated by IM itself (importmsg's (MsgSeq, MsgRandom, MsgTimeStamp),
 * import_group_msg's and send_group_msg's Random).
 */
export function messageIdentity(oldMessageId: string): { msgSeq: number; msgRandom: number } {
  const digest = createHash('sha256').update(oldMessageId, 'utf8').digest();
  return { msgSeq: digest.readUInt32BE(0), msgRandom: digest.readUInt32BE(4) };
}
