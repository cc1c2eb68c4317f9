/** One-to-one messages: history import, read marks, live sends, and roaming history read back. */
import { z } from 'zod';
import { FORBID_AFTER_SEND_CALLBACK, REST_API_PLATFORM } from '../../../im/callbacks';
import { MAX_MESSAGE_BYTES, messageBytes, SYNC_FROM_OLD_SYSTEM } from '../../../im/messages';
import { ImState } from '../state';
import { c2cCallback } from './callbacks';
import { ApiError, bodySchema, parse, uint32, type Handlers } from './common';

function msgKey(seq: number, random: number, time: number): string {
  return `${seq}_${random}_${time}`;
}

const importmsgRequest = z.object({
  SyncFromOldSystem: z.number().int(),
  From_Account: z.string(),
  To_Account: z.string(),
  MsgSeq: uint32.optional(),
  MsgRandom: uint32,
  MsgTimeStamp: z.number().int(),
  MsgBody: z.array(z.unknown()),
  CloudCustomData: z.string().optional(),
});
const adminSetMsgReadRequest = z.object({
  Report_Account: z.string(),
  Peer_Account: z.string(),
  MsgReadTime: z.union([z.number().int(), z.string().regex(/^\d+$/)]).optional(),
});
const sendmsgRequest = z.object({
  SyncOtherMachine: z.number().int().optional(),
  From_Account: z.string().optional(),
  To_Account: z.string(),
  MsgLifeTime: z.number().int().optional(),
  MsgSeq: uint32.optional(),
  MsgRandom: uint32,
  MsgBody: z.array(z.unknown()),
  CloudCustomData: z.string().optional(),
  ForbidCallbackControl: z.array(z.string()).optional(),
  SendMsgControl: z.array(z.string()).optional(),
});
const adminGetroammsgRequest = z.object({
  Operator_Account: z.string(),
  Peer_Account: z.string(),
  MaxCnt: z.number().int().positive(),
  MinTime: z.number().int(),
  MaxTime: z.number().int(),
  LastMsgKey: z.string().optional(),
});

export const c2cHandlers = {
  importmsg(body, ctx) {
    const req = parse(importmsgRequest, body, 90001);
    if (req.SyncFromOldSystem !== SYNC_FROM_OLD_SYSTEM.history && req.SyncFromOldSystem !== SYNC_FROM_OLD_SYSTEM.realtime) {
      throw new ApiError(90030, 'SyncFromOldSystem must be 2 or 5');
    }
    const msgBody = parse(bodySchema, req.MsgBody, 90002);
    if (messageBytes(msgBody, req.CloudCustomData) > MAX_MESSAGE_BYTES) throw new ApiError(93000, 'JSON body too long, at most 12 KB');
    if (!ctx.state.hasAccount(req.From_Account)) throw new ApiError(90048, 'From_Account does not exist');
    if (!ctx.state.hasAccount(req.To_Account)) throw new ApiError(90012, 'To_Account is not imported');
    const seq = req.MsgSeq ?? Math.floor(Math.random() * 0xffffffff);
    const key = ImState.conversationKey(req.From_Account, req.To_Account);
    let triples = ctx.state.conversationTriples.get(key);
    if (!triples) ctx.state.conversationTriples.set(key, (triples = new Set()));
    const triple = `${seq}|${req.MsgRandom}|${req.MsgTimeStamp}`;
    // Duplicates within a conversation are dropped silently; the first import wins.
    if (triples.has(triple)) return {};
    triples.add(triple);
    ctx.state.addC2C({
      from: req.From_Account,
      to: req.To_Account,
      seq,
      random: req.MsgRandom,
      time: req.MsgTimeStamp,
      key: msgKey(seq, req.MsgRandom, req.MsgTimeStamp),
      body: msgBody,
      cloudCustomData: req.CloudCustomData,
      via: 'import',
    });
    return {};
  },

  admin_set_msg_read(body, ctx) {
    const req = parse(adminSetMsgReadRequest, body, 90001);
    if (!ctx.state.hasAccount(req.Report_Account)) throw new ApiError(90008, 'Report_Account does not exist');
    if (!ctx.state.hasAccount(req.Peer_Account)) throw new ApiError(90003, 'Peer_Account does not exist');
    ctx.state.readMarks.set(
      `${req.Report_Account}|${req.Peer_Account}`,
      req.MsgReadTime !== undefined ? Number(req.MsgReadTime) : ctx.nowS,
    );
    return {};
  },

  sendmsg(body, ctx) {
    const req = parse(sendmsgRequest, body, 90001);
    const msgBody = parse(bodySchema, req.MsgBody, 90002);
    if (messageBytes(msgBody, req.CloudCustomData) > MAX_MESSAGE_BYTES) throw new ApiError(93000, 'JSON body too long, at most 12 KB');
    const from = req.From_Account ?? ctx.admin;
    if (!ctx.state.hasAccount(from)) throw new ApiError(20003, 'sender is not imported');
    if (!ctx.state.hasAccount(req.To_Account)) throw new ApiError(90012, 'To_Account is not imported');
    const seq = req.MsgSeq ?? Math.floor(Math.random() * 0xffffffff);
    const dupKey = `${from}|${seq}|${req.MsgRandom}|${JSON.stringify(msgBody)}`;
    const recent = ctx.state.recentSends.get(dupKey);
    // The same sender, MsgSeq, MsgRandom and content within 120 s is one message.
    if (recent && ctx.nowS - recent.time <= 120) return { MsgTime: recent.time, MsgKey: recent.key };
    const key = msgKey(seq, req.MsgRandom, ctx.nowS);
    ctx.state.recentSends.set(dupKey, { time: ctx.nowS, key });
    ctx.state.addC2C({
      from,
      to: req.To_Account,
      seq,
      random: req.MsgRandom,
      time: ctx.nowS,
      key,
      body: msgBody,
      cloudCustomData: req.CloudCustomData,
      via: 'rest',
    });
    if (!req.ForbidCallbackControl?.includes(FORBID_AFTER_SEND_CALLBACK)) {
      ctx.emit(c2cCallback(from, req.To_Account, seq, req.MsgRandom, ctx.nowS, key, msgBody, req.CloudCustomData, REST_API_PLATFORM));
    }
    return { MsgTime: ctx.nowS, MsgKey: key };
  },

  admin_getroammsg(body, ctx) {
    const req = parse(adminGetroammsgRequest, body, 90001);
    if (!ctx.state.hasAccount(req.Operator_Account)) throw new ApiError(90008, 'Operator_Account does not exist');
    if (!ctx.state.hasAccount(req.Peer_Account)) throw new ApiError(90003, 'Peer_Account does not exist');
    const list = ctx.state.conversations.get(ImState.conversationKey(req.Operator_Account, req.Peer_Account)) ?? [];
    // Walk from newest to oldest: continue strictly before the last message returned.
    let end = list.length;
    if (req.LastMsgKey) {
      const i = list.findIndex((m) => m.key === req.LastMsgKey);
      end = i >= 0 ? i : end;
    }
    const inRange: typeof list = [];
    for (let i = end - 1; i >= 0 && inRange.length < req.MaxCnt; i--) {
      const m = list[i];
      if (m.time > req.MaxTime) continue;
      if (m.time < req.MinTime) break;
      inRange.push(m);
    }
    const oldest = inRange[inRange.length - 1];
    const moreBefore =
      oldest !== undefined && list.slice(0, list.indexOf(oldest)).some((m) => m.time >= req.MinTime && m.time <= req.MaxTime);
    inRange.reverse();
    return {
      Complete: moreBefore ? 0 : 1,
      MsgCnt: inRange.length,
      LastMsgTime: oldest?.time ?? 0,
      LastMsgKey: oldest?.key ?? '',
      MsgList: inRange.map((m) => ({
        From_Account: m.from,
        To_Account: m.to,
        MsgSeq: m.seq,
        MsgRandom: m.random,
        MsgTimeStamp: m.time,
        MsgFlagBits: 0,
        IsPeerRead: 0,
        MsgKey: m.key,
        MsgBody: m.body,
        CloudCustomData: m.cloudCustomData ?? '',
      })),
    };
  },
} satisfies Handlers;
