/** Message bodies as the tests write and read them. */
import type { MsgBody } from '../../im/messages';

/** A body of one text element. */
export const text = (t: string): MsgBody => [{ MsgType: 'TIMTextElem', MsgContent: { Text: t } }];

/** The text of a body: its text elements' texts joined, other elements counting as ''. */
export const textOf = (body: ReadonlyArray<{ MsgContent: unknown }>): string =>
  body.map((e) => (e.MsgContent as { Text?: string }).Text ?? '').join('');
