/**
 * What the gateway checks of an IM callback besides its signature: that it comes from one of IM's
 * addresses (an optional allow-list), and that it is not a signed request seen before (replay).
 */
import { createHash } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import { CALLBACK_MAX_CLOCK_SKEW_S } from '../im/callbacks';

/** Addresses and CIDR ranges (IPv4 or IPv6), e.g. `203.0.113.0/24, 2001:db8::/32, 198.51.100.7`. */
export class SourceAllowList {
  private readonly list = new BlockList();

  /** Throws naming the first entry that is not an address or a CIDR range. */
  constructor(readonly entries: readonly string[]) {
    if (entries.length === 0) throw new Error('the allow-list is empty');
    for (const entry of entries) {
      const [address, prefix, ...rest] = entry.split('/');
      const family = isIP(address);
      const bits = family === 6 ? 128 : 32;
      const prefixLength = prefix === undefined ? bits : Number(prefix);
      if (family === 0 || rest.length > 0 || !Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > bits || prefix === '') {
        throw new Error(`${JSON.stringify(entry)} is not an IP address or a CIDR range (e.g. 203.0.113.0/24)`);
      }
      this.list.addSubnet(address, prefixLength, family === 6 ? 'ipv6' : 'ipv4');
    }
  }

  /** A comma-separated list, as the setting holds it. */
  static parse(text: string): SourceAllowList {
    return new SourceAllowList(
      text
        .split(',')
        .map((e) => e.trim())
        .filter((e) => e !== ''),
    );
  }

  allows(ip: string): boolean {
    // A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d.
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1];
    if (v4 !== undefined) return this.list.check(v4, 'ipv4');
    const family = isIP(ip);
    return family !== 0 && this.list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
  }
}

const requestDigest = (url: string, body: string) => createHash('sha256').update(url).update('\n').update(body).digest('base64');

/**
 * Signed callbacks already seen, to refuse a replay. `Sign` depends on the token and `RequestTime`
 * only, so every callback IM sends within one second carries the same pair: a pair alone cannot tell
 * a replay from the next callback. A replay is the same query and body again; a different body under
 * a captured pair (the body is not signed) is what HTTPS and the source allow-list are for.
 * Only requests inside the accepted window are remembered: older ones fail the RequestTime check.
 * The memory is this process's: with several gateways behind a load balancer, a request replayed to
 * another gateway passes this check (it is then a duplicate event id, dropped by the shared journal).
 */
export class CallbackReplayGuard {
  private readonly seenBySecond = new Map<number, Set<string>>();

  /** Records the request; false when it was seen before. */
  firstSight(requestTime: number, url: string, body: string, nowS: number): boolean {
    for (const second of this.seenBySecond.keys()) {
      if (second < nowS - CALLBACK_MAX_CLOCK_SKEW_S) this.seenBySecond.delete(second);
    }
    const digest = requestDigest(url, body);
    const seen = this.seenBySecond.get(requestTime) ?? new Set<string>();
    if (seen.has(digest)) return false;
    seen.add(digest);
    this.seenBySecond.set(requestTime, seen);
    return true;
  }

  /** Forgets a request the gateway failed to hand over, so that IM's retry (if enabled) is taken. */
  forget(requestTime: number, url: string, body: string): void {
    this.seenBySecond.get(requestTime)?.delete(requestDigest(url, body));
  }

  /** Requests remembered now (bounded by the callbacks of the last two minutes). */
  size(): number {
    let n = 0;
    for (const s of this.seenBySecond.values()) n += s.size;
    return n;
  }
}
