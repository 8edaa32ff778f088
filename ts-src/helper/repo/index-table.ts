/**
 * The repository index held in memory: which pack holds each blob, where, and how it is
 * encoded. A repository of a million blobs must not cost a million JS objects (a Map of
 * string keys to records takes ~250 bytes an entry), so entries live in parallel typed arrays
 * (32-byte id + 17 bytes of numbers) behind an open-addressing hash table of entry numbers
 * keyed by the id's first 4 bytes (ids are SHA-256/HMAC outputs, so those bytes are uniform).
 * About 60 bytes an entry in all; see the RSS figure in docs/format.md.
 *
 * The same blob may sit in two packs (two backups stored it at once); both entries are kept
 * and a lookup returns the first one whose pack still exists, so dropping a pack (prune)
 * never hides a copy that is still there.
 */

export const ID_BYTES = 32;
const ID_HEX = /^[0-9a-f]{64}$/;

export type BlobEncoding = 'none' | 'gzip' | 'zstd';
const ENCODINGS: readonly BlobEncoding[] = ['none', 'gzip', 'zstd'];

export function encodingCode(encoding: BlobEncoding): number {
  const code = ENCODINGS.indexOf(encoding);
  if (code < 0) throw new Error(`unknown blob encoding ${String(encoding)}`);
  return code;
}

export function isBlobEncoding(value: unknown): value is BlobEncoding {
  return typeof value === 'string' && (ENCODINGS as readonly string[]).includes(value);
}

export function isBlobId(value: unknown): value is string {
  return typeof value === 'string' && ID_HEX.test(value);
}

export interface BlobLocation {
  pack: string;
  /** Bytes of the pack's shared age header (0 in an unencrypted repository). */
  header: number;
  offset: number;
  length: number;
  rawLength: number;
  encoding: BlobEncoding;
}

export interface PackInfo {
  bytes: number;
  header: number;
}

const EMPTY = 0;

export class BlobIndexTable {
  private capacity = 0;
  private count = 0;
  private ids = new Uint8Array(0);
  private packSlot = new Uint32Array(0);
  private offsets = new Uint32Array(0);
  private lengths = new Uint32Array(0);
  private rawLengths = new Uint32Array(0);
  private encodings = new Uint8Array(0);
  /** Entry number + 1 per hash slot, 0 = empty; at most half full. */
  private slots = new Int32Array(0);
  private slotMask = 0;
  private readonly packNames: (string | undefined)[] = [];
  private readonly packInfo: PackInfo[] = [];
  private readonly packSlotByName = new Map<string, number>();
  private livePacks = 0;
  private readonly probe = Buffer.alloc(ID_BYTES);

  constructor(expectedEntries = 1024) {
    this.grow(Math.max(16, expectedEntries));
  }

  /** Entries held (duplicates and entries of dropped packs included). */
  get size(): number {
    return this.count;
  }

  get packCount(): number {
    return this.livePacks;
  }

  /** Registers a pack; its blobs are added with add(). Returns the pack's slot. */
  addPack(name: string, info: PackInfo): number {
    const existing = this.packSlotByName.get(name);
    if (existing !== undefined && this.packNames[existing] !== undefined) return existing;
    const slot = this.packNames.length;
    this.packNames.push(name);
    this.packInfo.push(info);
    this.packSlotByName.set(name, slot);
    this.livePacks += 1;
    return slot;
  }

  hasPack(name: string): boolean {
    const slot = this.packSlotByName.get(name);
    return slot !== undefined && this.packNames[slot] !== undefined;
  }

  /** Forgets a pack: its blobs are no longer found (other copies of them still are). */
  dropPack(name: string): void {
    const slot = this.packSlotByName.get(name);
    if (slot === undefined || this.packNames[slot] === undefined) return;
    this.packNames[slot] = undefined;
    this.packSlotByName.delete(name);
    this.livePacks -= 1;
  }

  packs(): Map<string, PackInfo> {
    const result = new Map<string, PackInfo>();
    this.packNames.forEach((name, slot) => {
      if (name !== undefined) result.set(name, { ...this.packInfo[slot] });
    });
    return result;
  }

  add(id: string, packSlot: number, offset: number, length: number, rawLength: number, encoding: BlobEncoding): void {
    if (!isBlobId(id)) throw new Error(`not a blob id: ${JSON.stringify(id).slice(0, 80)}`);
    if (this.packNames[packSlot] === undefined) throw new Error(`pack slot ${packSlot} is not live`);
    if ((this.count + 1) * 2 > this.capacity) this.grow(this.capacity * 2);
    const entry = this.count;
    this.count += 1;
    this.ids.set(this.toBytes(id), entry * ID_BYTES);
    this.packSlot[entry] = packSlot;
    this.offsets[entry] = offset;
    this.lengths[entry] = length;
    this.rawLengths[entry] = rawLength;
    this.encodings[entry] = encodingCode(encoding);
    this.insertSlot(entry);
  }

  has(id: string): boolean {
    return this.find(id) >= 0;
  }

  lookup(id: string): BlobLocation | undefined {
    const entry = this.find(id);
    if (entry < 0) return undefined;
    const slot = this.packSlot[entry];
    return {
      pack: this.packNames[slot] as string,
      header: this.packInfo[slot].header,
      offset: this.offsets[entry],
      length: this.lengths[entry],
      rawLength: this.rawLengths[entry],
      encoding: ENCODINGS[this.encodings[entry]],
    };
  }

  /** Bytes the table's arrays take (for the memory figures in tests). */
  get arrayBytes(): number {
    return (
      this.ids.byteLength + this.packSlot.byteLength + this.offsets.byteLength + this.lengths.byteLength + this.rawLengths.byteLength + this.encodings.byteLength + this.slots.byteLength
    );
  }

  private toBytes(id: string): Buffer {
    if (this.probe.write(id, 'hex') !== ID_BYTES || !isBlobId(id)) throw new Error(`not a blob id: ${JSON.stringify(id).slice(0, 80)}`);
    return this.probe;
  }

  /** The first live entry for `id`, or -1. */
  private find(id: string): number {
    if (!isBlobId(id)) return -1;
    const key = this.toBytes(id);
    let slot = key.readUInt32LE(0) & this.slotMask;
    for (;;) {
      const value = this.slots[slot];
      if (value === EMPTY) return -1;
      const entry = value - 1;
      if (this.packNames[this.packSlot[entry]] !== undefined && this.sameId(entry, key)) return entry;
      slot = (slot + 1) & this.slotMask;
    }
  }

  private sameId(entry: number, key: Buffer): boolean {
    const base = entry * ID_BYTES;
    for (let i = 0; i < ID_BYTES; i += 1) if (this.ids[base + i] !== key[i]) return false;
    return true;
  }

  private insertSlot(entry: number): void {
    const base = entry * ID_BYTES;
    const hash = (this.ids[base] | (this.ids[base + 1] << 8) | (this.ids[base + 2] << 16) | (this.ids[base + 3] << 24)) >>> 0;
    let slot = hash & this.slotMask;
    while (this.slots[slot] !== EMPTY) slot = (slot + 1) & this.slotMask;
    this.slots[slot] = entry + 1;
  }

  private grow(entries: number): void {
    const capacity = 2 ** Math.ceil(Math.log2(entries));
    const copy = <T extends Uint8Array | Uint32Array>(old: T, make: (n: number) => T, width = 1): T => {
      const next = make(capacity * width);
      next.set(old.subarray(0, this.count * width));
      return next;
    };
    this.ids = copy(this.ids, (n) => new Uint8Array(n), ID_BYTES);
    this.packSlot = copy(this.packSlot, (n) => new Uint32Array(n));
    this.offsets = copy(this.offsets, (n) => new Uint32Array(n));
    this.lengths = copy(this.lengths, (n) => new Uint32Array(n));
    this.rawLengths = copy(this.rawLengths, (n) => new Uint32Array(n));
    this.encodings = copy(this.encodings, (n) => new Uint8Array(n));
    this.capacity = capacity;
    // Hash slots: twice the entry capacity keeps the table at most half full.
    this.slots = new Int32Array(capacity * 2);
    this.slotMask = capacity * 2 - 1;
    for (let entry = 0; entry < this.count; entry += 1) this.insertSlot(entry);
  }
}
