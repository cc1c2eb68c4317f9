/**
 * A compact set of ids for the duplicate checks of a large bundle: each id is kept as a 64-bit
 * hash in a typed array (16 bytes a slot at most, outside the JS heap), not as a string, so a
 * million message ids cost about 32 MB of flat memory instead of the JS heap churn a Set<string>
 * brings. `add` says whether the id's hash was seen before: a repeat of the id, or (odds about
 * n²/2⁶⁵, 3·10⁻⁸ for a million ids) another id with the same hash. Callers confirm repeats
 * exactly with a second look (see validate.ts), so a collision never becomes a false error.
 */
export class HashedIdSet {
  private slots = new Uint32Array(2 * 1024);
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds the id; false when its hash was already there. */
  add(id: string): boolean {
    let h1 = 0x811c9dc5;
    let h2 = 0x9747b28c;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995);
      h2 ^= h2 >>> 15;
    }
    // 0/0 marks an empty slot.
    h1 = h1 >>> 0 || 1;
    h2 >>>= 0;
    if ((this.count + 1) * 2 > this.slots.length / 2) this.grow();
    return this.insert(h1, h2);
  }

  private insert(h1: number, h2: number): boolean {
    const mask = this.slots.length / 2 - 1;
    for (let i = (h1 ^ h2) & mask; ; i = (i + 1) & mask) {
      const a = this.slots[2 * i];
      if (a === 0) {
        this.slots[2 * i] = h1;
        this.slots[2 * i + 1] = h2;
        this.count++;
        return true;
      }
      if (a === h1 && this.slots[2 * i + 1] === h2) return false;
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Uint32Array(old.length * 2);
    this.count = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0) this.insert(old[i], old[i + 1]);
  }
}
