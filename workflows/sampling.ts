/**
 * Which conversations, users and groups a sampled verification checks: a key is in the sample when
 * a hash of the seed and the key falls below the share, so the same seed always picks the same
 * items, on every worker and in every run (pure code: workflows and activities both use it).
 */
export interface Sample {
  /** The share of items checked, in (0, 1]. */
  share: number;
  seed: number;
}

/** FNV-1a, 32 bits: small, stable, and good enough to spread keys evenly. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

export function inSample(key: string, sample: Sample | undefined): boolean {
  if (sample === undefined || sample.share >= 1) return true;
  return fnv1a(`${sample.seed}:${key}`) / 0x1_0000_0000 < sample.share;
}
