/**
 * Streaming tar parser: pax ('x', 'g'), ustar and GNU long-name ('L', 'K') headers, checked
 * block by block (header checksums, numeric fields, the end-of-archive marker). Entry content
 * is handed out in the chunks it arrives in; only header data is ever buffered, and pax data
 * is capped, so a hostile archive cannot make the reader hold much memory.
 */
import { BLOCK, decodePaxRecords, decodeRawHeader, isZeroBlock, paddedSize, TarFormatError, type EntryType, type TarEntryHeader } from './tar-format.js';

/** Extended header data larger than this is refused (real ones are a few hundred bytes). */
const MAX_META_BYTES = 1024 * 1024;

class ByteSource {
  private chunk: Buffer = Buffer.alloc(0);
  private offset = 0;
  private done = false;
  /** Total bytes consumed, for error messages. */
  position = 0;
  constructor(private readonly iterator: AsyncIterator<Buffer | Uint8Array | string>) {}

  private async fill(): Promise<boolean> {
    while (this.offset >= this.chunk.length) {
      if (this.done) return false;
      const next = await this.iterator.next();
      if (next.done) {
        this.done = true;
        return false;
      }
      const value = next.value;
      this.chunk = typeof value === 'string' ? Buffer.from(value) : Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      this.offset = 0;
    }
    return true;
  }

  /** Up to `max` bytes (at least 1), or null at the end of the stream. */
  async readSome(max: number): Promise<Buffer | null> {
    if (!(await this.fill())) return null;
    const take = Math.min(max, this.chunk.length - this.offset);
    const out = this.chunk.subarray(this.offset, this.offset + take);
    this.offset += take;
    this.position += take;
    return out;
  }

  /** Exactly `n` bytes, or null when the stream ends first (after `got` bytes). */
  async readExact(n: number): Promise<Buffer | null> {
    const first = await this.readSome(n);
    if (first === null) return null;
    if (first.length === n) return first;
    const parts = [first];
    let have = first.length;
    while (have < n) {
      const more = await this.readSome(n - have);
      if (more === null) throw new TarFormatError(`the archive ends in the middle of a block (at byte ${this.position})`);
      parts.push(more);
      have += more.length;
    }
    return Buffer.concat(parts, n);
  }

  async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) {
      const part = await this.readSome(left);
      if (part === null) throw new TarFormatError(`the archive is truncated (ends at byte ${this.position})`);
      left -= part.length;
    }
  }

  async drain(): Promise<void> {
    while ((await this.readSome(1 << 20)) !== null) {
      /* discard trailing bytes after the end marker */
    }
  }
}

function typeOf(flag: string): EntryType {
  switch (flag) {
    case '0':
    case '7': // contiguous file: a regular file everywhere that matters
      return 'file';
    case '1':
      return 'hardlink';
    case '2':
      return 'symlink';
    case '5':
      return 'directory';
    default:
      return 'other';
  }
}

export interface ReadEntry extends TarEntryHeader {
  /** Name as stored in the archive (before any normalization), for messages. */
  rawName: string;
}

export class TarReader {
  private readonly source: ByteSource;
  /** Content bytes of the current entry not yet handed out, and its padding. */
  private pendingContent = 0;
  private pendingPadding = 0;
  private ended = false;

  constructor(input: AsyncIterable<Buffer | Uint8Array | string>) {
    this.source = new ByteSource(input[Symbol.asyncIterator]());
  }

  /** The next entry, or null after the end-of-archive marker. Unread content of the previous entry is skipped. */
  async next(): Promise<ReadEntry | null> {
    if (this.ended) return null;
    await this.source.skip(this.pendingContent + this.pendingPadding);
    this.pendingContent = 0;
    this.pendingPadding = 0;

    let pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      const block = await this.source.readExact(BLOCK);
      if (block === null) throw new TarFormatError('the archive is truncated: it has no end-of-archive marker');
      if (isZeroBlock(block)) {
        const second = await this.source.readExact(BLOCK);
        if (second === null || !isZeroBlock(second)) throw new TarFormatError(`a zero block in the middle of the archive (at byte ${this.source.position})`);
        this.ended = true;
        await this.source.drain();
        return null;
      }
      const raw = decodeRawHeader(block);
      if (raw.typeFlag === 'x' || raw.typeFlag === 'g' || raw.typeFlag === 'L' || raw.typeFlag === 'K') {
        if (raw.size > MAX_META_BYTES) throw new TarFormatError(`an extended header of ${raw.size} bytes is larger than allowed`);
        const data = raw.size === 0 ? Buffer.alloc(0) : await this.source.readExact(raw.size);
        if (data === null) throw new TarFormatError('the archive is truncated inside an extended header');
        await this.source.skip(paddedSize(raw.size) - raw.size);
        if (raw.typeFlag === 'x') pax = new Map([...pax, ...decodePaxRecords(data)]);
        else if (raw.typeFlag === 'g') decodePaxRecords(data); // checked, not applied: we never write them
        else {
          const nul = data.indexOf(0);
          const text = (nul === -1 ? data : data.subarray(0, nul)).toString('utf8');
          if (raw.typeFlag === 'L') longName = text;
          else longLink = text;
        }
        continue;
      }

      const rawName = pax.get('path') ?? longName ?? raw.name;
      const type = typeOf(raw.typeFlag);
      const size = pax.has('size') ? parseDecimal(pax.get('size') ?? '', 'size') : raw.size;
      const entry: ReadEntry = {
        rawName,
        path: rawName,
        type,
        typeFlag: raw.typeFlag,
        mode: raw.mode & 0o7777,
        uid: pax.has('uid') ? parseDecimal(pax.get('uid') ?? '', 'uid') : raw.uid,
        gid: pax.has('gid') ? parseDecimal(pax.get('gid') ?? '', 'gid') : raw.gid,
        uname: pax.get('uname') ?? raw.uname,
        gname: pax.get('gname') ?? raw.gname,
        // Links and directories carry no content, whatever the size field says (POSIX).
        size: type === 'directory' || type === 'symlink' || type === 'hardlink' ? 0 : size,
        mtime: pax.has('mtime') ? parseTime(pax.get('mtime') ?? '') : raw.mtime,
        linkTarget: pax.get('linkpath') ?? longLink ?? raw.linkName,
      };
      // POSIX: links have no data area whatever their size field says; anything else (a
      // directory with a GNU dumpdir, a device) may have one, which is skipped.
      const dataSize = type === 'hardlink' || type === 'symlink' ? 0 : size;
      this.pendingContent = dataSize;
      this.pendingPadding = paddedSize(dataSize) - dataSize;
      return entry;
    }
  }

  /** The current entry's content, in arrival-sized chunks; exactly `size` bytes or an error. */
  async *content(): AsyncGenerator<Buffer> {
    while (this.pendingContent > 0) {
      const part = await this.source.readSome(this.pendingContent);
      if (part === null) throw new TarFormatError('the archive is truncated inside a file');
      this.pendingContent -= part.length;
      yield part;
    }
  }
}

function parseDecimal(text: string, field: string): number {
  if (!/^[0-9]+$/.test(text)) throw new TarFormatError(`pax ${field} "${text}" is not a number`);
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new TarFormatError(`pax ${field} ${text} is too large`);
  return value;
}

function parseTime(text: string): number {
  if (!/^-?[0-9]+(\.[0-9]+)?$/.test(text)) throw new TarFormatError(`pax mtime "${text}" is not a time`);
  return Number(text);
}
