/**
 * Failure-report ids of items named by two ids (friend owner>friend, reader>peer, group>member).
 * IM allows every printable ASCII character in a GroupId and a UserID (tencent-im-rest-api.md,
 * import_group GroupId and "(d) UserID rules"), `>` included, so each part escapes `%` and `>`:
 * the one bare `>` is the separator. Ids without either character read as before.
 */
const escapePart = (part: string) => part.replace(/%/g, '%25').replace(/>/g, '%3E');
const unescapePart = (part: string) => part.replace(/%(25|3E)/g, (_, hex: string) => (hex === '25' ? '%' : '>'));

export function pairItemId(left: string, right: string): string {
  return `${escapePart(left)}>${escapePart(right)}`;
}

/** The two ids of a pairItemId; throws, naming the id, when it is not one. */
export function splitPairItemId(itemId: string): [string, string] {
  const parts = itemId.split('>');
  if (parts.length !== 2) throw new Error(`failure-report item id ${JSON.stringify(itemId)} is not two ids joined by one bare '>'`);
  return [unescapePart(parts[0]), unescapePart(parts[1])];
}
