/**
 * What one set references: the packs it needs (with their sizes, for the manifest) and the
 * stored bytes of its distinct blobs, counted from every blob id the set names, more than once
 * for shared content. Distinct blobs are marked by their entry in the index table, one bit
 * each: a set of a million files costs 125 KB here, where a Set of its ids cost ~50 MB.
 */
import type { BlobIndexTable } from './index-table.js';

export class SetReferences {
  readonly packs = new Map<string, number>();
  referencedBytes = 0;
  blobs = 0;
  private marks = new Uint8Array(0);

  constructor(
    private readonly table: BlobIndexTable,
    private readonly packBytes: (pack: string) => number,
  ) {}

  /** Counts `id` (once, however often it is added); false when no pack in the index holds it (yet). */
  add(id: string): boolean {
    const entry = this.table.entryOf(id);
    if (entry < 0) return false;
    const byte = entry >>> 3;
    if (byte >= this.marks.length) {
      // Sized to the table as it is; grows again only for blobs indexed since.
      const grown = new Uint8Array(Math.max(byte + 1, (this.table.size + 7) >>> 3));
      grown.set(this.marks);
      this.marks = grown;
    }
    const bit = 1 << (entry & 7);
    if ((this.marks[byte] & bit) !== 0) return true;
    this.marks[byte] |= bit;
    this.blobs += 1;
    this.referencedBytes += this.table.storedLengthAt(entry);
    const pack = this.table.packAt(entry);
    if (!this.packs.has(pack)) this.packs.set(pack, this.packBytes(pack));
    return true;
  }

  /** Whether `id` was added and is counted in `pack` (the copy a reader would use). */
  counts(id: string, pack: string): boolean {
    const entry = this.table.entryOf(id);
    return entry >= 0 && this.marked(entry) && this.table.packAt(entry) === pack;
  }

  /** The ids added whose counted copy is in `pack`, less those in `except` (a scan of every mark: for damage reports). */
  *idsIn(pack: string, except: ReadonlySet<string>): Generator<string> {
    for (let entry = 0; entry < this.marks.length * 8; entry += 1) {
      if (!this.marked(entry) || this.table.packAt(entry) !== pack) continue;
      const id = this.table.idAt(entry);
      if (!except.has(id)) yield id;
    }
  }

  private marked(entry: number): boolean {
    return (entry >>> 3) < this.marks.length && (this.marks[entry >>> 3] & (1 << (entry & 7))) !== 0;
  }
}
