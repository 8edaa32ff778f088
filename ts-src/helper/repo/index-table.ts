/**
 * The repository index held in memory: which pack holds each blob, where, and how it is
 * encoded. A repository of a million blobs must not cost a million JS objects (a Map of
 * string keys to records takes ~250 bytes an entry), so entries live in parallel typed arrays
 * (32-byte id + 17 bytes of numbers, in pages of 16K entries) behind an open-addressing hash table of entry numbers
 * keyed by the id's first 4 bytes (ids are SHA-256/HMAC outputs, so those bytes are uniform).
 * About 60 bytes an entry in all; see the RSS figure in docs/format.md.
 *
 * The same blob may sit in two packs (two backups stored it at once); both entries are kept
 * and a lookup returns the first one whose pack still exists, so dropping a pack (prune)
 * never hides a copy that is still there.
 */

export const ID_BYTES = 32;

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

/** Lower-case hex digit values by char code, -1 for anything else. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let c = 0; c < 10; c += 1) HEX_VALUE[48 + c] = c;
for (let c = 0; c < 6; c += 1) HEX_VALUE[97 + c] = 10 + c;

/** 64 lower-case hex digits. A loop, not a regular expression: it runs for every blob of every index file. */
export function isBlobId(value: unknown): value is string {
  if (typeof value !== 'string' || value.length !== ID_BYTES * 2) return false;
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if (c >= 128 || HEX_VALUE[c] < 0) return false;
  }
  return true;
}

/**
 * Decodes a blob id (64 lower-case hex digits) into `into`; false when it is not one. A loop
 * over char codes: a lookup runs for every block of every file of a backup, and the regular
 * expression above, twice per lookup, was the largest single cost of an unchanged re-run.
 */
function decodeId(id: string, into: Uint8Array): boolean {
  if (id.length !== ID_BYTES * 2) return false;
  for (let i = 0; i < ID_BYTES; i += 1) {
    const high = id.charCodeAt(2 * i);
    const low = id.charCodeAt(2 * i + 1);
    const value = ((high < 128 ? HEX_VALUE[high] : -1) << 4) | (low < 128 ? HEX_VALUE[low] : -1);
    if (value < 0) return false;
    into[i] = value;
  }
  return true;
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
/** Entries per page: pages are never copied when the table grows, so no transient 2x. */
const PAGE_BITS = 14;
const PAGE_ENTRIES = 1 << PAGE_BITS;
const PAGE_MASK = PAGE_ENTRIES - 1;
/** Numbers per entry in a page's `numbers`: pack slot, offset, stored length, raw length. */
const NUMBERS = 4;

interface Page {
  ids: Uint8Array;
  numbers: Uint32Array;
  encodings: Uint8Array;
}

export class BlobIndexTable {
  private count = 0;
  private readonly pages: Page[] = [];
  /** Entry number + 1 per hash slot, 0 = empty; kept at most half full. */
  private slots = new Int32Array(0);
  private slotMask = 0;
  private readonly packNames: (string | undefined)[] = [];
  private readonly packInfo: PackInfo[] = [];
  private readonly packSlotByName = new Map<string, number>();
  private livePacks = 0;
  private changes = 0;
  private readonly probe = Buffer.alloc(ID_BYTES);

  constructor() {
    this.resizeSlots(PAGE_ENTRIES * 2);
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
    this.changes += 1;
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
    this.changes += 1;
  }

  /** Changes whenever a pack is added or dropped (callers cache derived views by it). */
  get generation(): number {
    return this.changes;
  }

  packs(): Map<string, PackInfo> {
    const result = new Map<string, PackInfo>();
    this.packNames.forEach((name, slot) => {
      if (name !== undefined) result.set(name, { ...this.packInfo[slot] });
    });
    return result;
  }

  add(id: string, packSlot: number, offset: number, length: number, rawLength: number, encoding: BlobEncoding): void {
    this.addKey(this.toBytes(id), packSlot, offset, length, rawLength, encodingCode(encoding));
  }

  /**
   * add() for an id given as 64 lower-case hex digits at `start` of `text` (the bytes of an
   * index file): no string per blob while an index is loaded. The caller has checked the digits.
   */
  addHex(text: Uint8Array, start: number, packSlot: number, offset: number, length: number, rawLength: number, encoding: number): void {
    const key = this.probe;
    for (let i = 0; i < ID_BYTES; i += 1) {
      const high = text[start + 2 * i];
      const low = text[start + 2 * i + 1];
      key[i] = (HEX_VALUE[high & 0x7f] << 4) | HEX_VALUE[low & 0x7f];
    }
    this.addKey(key, packSlot, offset, length, rawLength, encoding);
  }

  private addKey(key: Uint8Array, packSlot: number, offset: number, length: number, rawLength: number, encoding: number): void {
    if (this.packNames[packSlot] === undefined) throw new Error(`pack slot ${packSlot} is not live`);
    if (!(encoding >= 0 && encoding < ENCODINGS.length)) throw new Error(`unknown blob encoding ${encoding}`);
    const entry = this.count;
    if ((entry & PAGE_MASK) === 0) {
      this.pages.push({ ids: new Uint8Array(PAGE_ENTRIES * ID_BYTES), numbers: new Uint32Array(PAGE_ENTRIES * NUMBERS), encodings: new Uint8Array(PAGE_ENTRIES) });
    }
    if ((entry + 1) * 2 > this.slots.length) this.resizeSlots(this.slots.length * 2);
    this.count += 1;
    const page = this.pages[entry >>> PAGE_BITS];
    const at = entry & PAGE_MASK;
    page.ids.set(key, at * ID_BYTES);
    page.numbers[at * NUMBERS] = packSlot;
    page.numbers[at * NUMBERS + 1] = offset;
    page.numbers[at * NUMBERS + 2] = length;
    page.numbers[at * NUMBERS + 3] = rawLength;
    page.encodings[at] = encoding;
    this.insertSlot(entry);
  }

  has(id: string): boolean {
    return this.find(id) >= 0;
  }

  /**
   * The entry number of the first live copy of `id`, or -1: for callers that keep per-entry
   * state (a set's accounting marks entries in a bit array instead of a Set of ids).
   */
  entryOf(id: string): number {
    return this.find(id);
  }

  /** Stored bytes of entry `entry` (from entryOf). */
  storedLengthAt(entry: number): number {
    return this.pages[entry >>> PAGE_BITS].numbers[(entry & PAGE_MASK) * NUMBERS + 2];
  }

  /** The id of entry `entry`, as 64 lower-case hex digits. */
  idAt(entry: number): string {
    const ids = this.pages[entry >>> PAGE_BITS].ids;
    return Buffer.from(ids.buffer, ids.byteOffset + (entry & PAGE_MASK) * ID_BYTES, ID_BYTES).toString('hex');
  }

  /** The pack of entry `entry` (from entryOf; the pack is live when entryOf returned it). */
  packAt(entry: number): string {
    return this.packNames[this.pages[entry >>> PAGE_BITS].numbers[(entry & PAGE_MASK) * NUMBERS]] as string;
  }

  lookup(id: string): BlobLocation | undefined {
    const entry = this.find(id);
    if (entry < 0) return undefined;
    const page = this.pages[entry >>> PAGE_BITS];
    const at = (entry & PAGE_MASK) * NUMBERS;
    const slot = page.numbers[at];
    return {
      pack: this.packNames[slot] as string,
      header: this.packInfo[slot].header,
      offset: page.numbers[at + 1],
      length: page.numbers[at + 2],
      rawLength: page.numbers[at + 3],
      encoding: ENCODINGS[page.encodings[entry & PAGE_MASK]],
    };
  }

  /** Bytes the table's arrays take (for the memory figures in tests). */
  get arrayBytes(): number {
    return this.pages.length * PAGE_ENTRIES * (ID_BYTES + NUMBERS * 4 + 1) + this.slots.byteLength;
  }

  private toBytes(id: string): Buffer {
    if (typeof id !== 'string' || !decodeId(id, this.probe)) throw new Error(`not a blob id: ${JSON.stringify(id).slice(0, 80)}`);
    return this.probe;
  }

  /** The first live entry for `id`, or -1. */
  private find(id: string): number {
    const key = this.probe;
    if (typeof id !== 'string' || !decodeId(id, key)) return -1;
    let slot = (key[0] | (key[1] << 8) | (key[2] << 16) | (key[3] << 24)) & this.slotMask;
    for (;;) {
      const value = this.slots[slot];
      if (value === EMPTY) return -1;
      const entry = value - 1;
      const page = this.pages[entry >>> PAGE_BITS];
      if (this.packNames[page.numbers[(entry & PAGE_MASK) * NUMBERS]] !== undefined && this.sameId(page.ids, (entry & PAGE_MASK) * ID_BYTES, key)) return entry;
      slot = (slot + 1) & this.slotMask;
    }
  }

  private sameId(ids: Uint8Array, base: number, key: Buffer): boolean {
    for (let i = 0; i < ID_BYTES; i += 1) if (ids[base + i] !== key[i]) return false;
    return true;
  }

  private insertSlot(entry: number): void {
    const ids = this.pages[entry >>> PAGE_BITS].ids;
    const base = (entry & PAGE_MASK) * ID_BYTES;
    const hash = (ids[base] | (ids[base + 1] << 8) | (ids[base + 2] << 16) | (ids[base + 3] << 24)) >>> 0;
    let slot = hash & this.slotMask;
    while (this.slots[slot] !== EMPTY) slot = (slot + 1) & this.slotMask;
    this.slots[slot] = entry + 1;
  }

  /** Rebuilds the hash slots at `size` (a power of two). */
  private resizeSlots(size: number): void {
    this.slots = new Int32Array(size);
    this.slotMask = size - 1;
    for (let entry = 0; entry < this.count; entry += 1) this.insertSlot(entry);
  }
}
