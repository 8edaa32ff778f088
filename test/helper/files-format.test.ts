/** Pure parts of directory archives: pax records, headers, the reader at chunk edges, globs, path checks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { entrySegments, linkEscapes } from '../../ts-src/helper/files/entry-paths.js';
import { compileRule, Exclusions } from '../../ts-src/helper/files/exclusions.js';
import { BLOCK, decodePaxRecords, decodeRawHeader, encodeHeader, END_OF_ARCHIVE, formatPaxTime, paxRecord, type TarEntryHeader } from '../../ts-src/helper/files/tar-format.js';
import { TarReader } from '../../ts-src/helper/files/tar-reader.js';

test('pax record lengths count themselves, across digit-count boundaries', () => {
  for (let valueLength = 0; valueLength < 1200; valueLength += 1) {
    const record = paxRecord('path', 'x'.repeat(valueLength));
    const declared = Number(record.slice(0, record.indexOf(' ')));
    assert.equal(Buffer.byteLength(record), declared, `value of ${valueLength} bytes`);
    assert.ok(record.endsWith('\n'));
  }
  const utf8 = paxRecord('path', 'é'.repeat(50));
  assert.equal(Buffer.byteLength(utf8), Number(utf8.split(' ')[0]));
  assert.deepEqual([...decodePaxRecords(Buffer.from(paxRecord('path', 'a=b c') + paxRecord('mtime', '1.5'))).entries()], [
    ['path', 'a=b c'],
    ['mtime', '1.5'],
  ]);
});

test('pax times keep nanoseconds without trailing zeros', () => {
  assert.equal(formatPaxTime(1700000000n, 0n), '1700000000');
  assert.equal(formatPaxTime(1700000000n, 500000000n), '1700000000.5');
  assert.equal(formatPaxTime(1700000000n, 123n), '1700000000.000000123');
});

async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function readAll(data: Buffer, chunkSize: number): Promise<Array<{ header: TarEntryHeader; content: string }>> {
  const reader = new TarReader(chunked(data, chunkSize));
  const out: Array<{ header: TarEntryHeader; content: string }> = [];
  for (let entry = await reader.next(); entry !== null; entry = await reader.next()) {
    const parts: Buffer[] = [];
    for await (const c of reader.content()) parts.push(c);
    const { rawName: _raw, ...header } = entry;
    out.push({ header, content: Buffer.concat(parts).toString('utf8') });
  }
  return out;
}

function fileEntry(path: string, content: string, extra: Partial<TarEntryHeader> = {}): Buffer {
  const data = Buffer.from(content);
  const pad = Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK);
  return Buffer.concat([encodeHeader({ path, type: 'file', mode: 0o640, uid: 1000, gid: 1000, size: data.length, mtime: 1_700_000_000, ...extra }), data, pad]);
}

test('the reader returns what the encoder wrote, whatever the chunk boundaries', async () => {
  const archive = Buffer.concat([
    encodeHeader({ path: '.', type: 'directory', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000 }),
    fileEntry('small.txt', 'hello'),
    fileEntry(`${'long/'.repeat(30)}name-ü.txt`, 'x'.repeat(BLOCK)),
    fileEntry('big-ids', 'ids', { uid: 0o7777777 + 5, gid: 0o7777777 + 6 }),
    encodeHeader({ path: 'link', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000.25, linkTarget: `../${'t'.repeat(150)}` }),
    END_OF_ARCHIVE,
  ]);
  const reference = await readAll(archive, archive.length);
  assert.equal(reference.length, 5);
  assert.equal(reference[1].content, 'hello');
  assert.equal(reference[2].header.path, `${'long/'.repeat(30)}name-ü.txt`);
  assert.equal(reference[3].header.uid, 0o7777777 + 5);
  assert.equal(reference[4].header.linkTarget, `../${'t'.repeat(150)}`);
  assert.equal(reference[4].header.mtime, 1_700_000_000.25);
  for (const size of [1, 7, 511, 512, 513, 1024, 4096]) assert.deepEqual(await readAll(archive, size), reference, `chunks of ${size}`);
});

test('sizes over 8 GiB go into a pax size record', async () => {
  const size = 9 * 1024 ** 3;
  const header = encodeHeader({ path: 'huge.bin', type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 1_700_000_000 });
  const ustar = decodeRawHeader(header.subarray(header.length - BLOCK));
  assert.equal(ustar.size, 0);
  const entry = await new TarReader(chunked(header, 512)).next();
  assert.equal(entry?.size, size);
});

test('the reader refuses bad checksums, truncation and a missing end marker', async () => {
  const good = Buffer.concat([fileEntry('a.txt', 'abc'), END_OF_ARCHIVE]);
  const corrupt = Buffer.from(good);
  corrupt[10] ^= 1;
  await assert.rejects(readAll(corrupt, 512), /checksum/);
  await assert.rejects(readAll(good.subarray(0, 512 + 100), 512), /truncated|ends in the middle/);
  await assert.rejects(readAll(good.subarray(0, 1024), 512), /no end-of-archive marker/);
});

test('entry names with absolute paths, .. or NUL are refused; . and empty segments normalize', () => {
  assert.deepEqual(entrySegments('./a//b/./c'), { segments: ['a', 'b', 'c'] });
  assert.deepEqual(entrySegments('./'), { segments: [] });
  assert.ok('refused' in entrySegments('/etc/passwd'));
  assert.ok('refused' in entrySegments('a/../../x'));
  assert.ok('refused' in entrySegments('a/..'));
  assert.ok('refused' in entrySegments('a\0b'));
  assert.deepEqual(entrySegments('a..b/..c'), { segments: ['a..b', '..c'] });
});

test('link targets are judged outside when absolute or climbing above the root', () => {
  assert.equal(linkEscapes('a/link', '../b'), false);
  assert.equal(linkEscapes('a/link', '../../b'), true);
  assert.equal(linkEscapes('link', '/etc/passwd'), true);
  assert.equal(linkEscapes('link', 'x/../../y'), true);
  assert.equal(linkEscapes('a/b/link', '../../c/./d'), false);
  assert.equal(linkEscapes('link', '.'), false);
});

test('glob patterns: names anywhere, anchored paths, **, classes, directory-only', () => {
  const rule = (p: string) => new Exclusions([compileRule(p, p)]);
  assert.equal(rule('*.log').match('a/b/x.log', false), '*.log');
  assert.equal(rule('*.log').match('a/b/x.log.gz', false), null);
  assert.equal(rule('cache/').match('a/cache', true), 'cache/');
  assert.equal(rule('cache/').match('a/cache', false), null);
  assert.equal(rule('/upload/').match('upload', true), '/upload/');
  assert.equal(rule('/upload/').match('x/upload', true), null);
  assert.equal(rule('sites/*/files').match('sites/default/files', true), 'sites/*/files');
  assert.equal(rule('sites/*/files').match('sites/a/b/files', true), null);
  assert.equal(rule('sites/**/files').match('sites/a/b/files', true), 'sites/**/files');
  assert.equal(rule('sites/**/files').match('sites/files', true), 'sites/**/files');
  assert.equal(rule('**/tmp').match('x/y/tmp', false), '**/tmp');
  assert.equal(rule('file?.[ch]').match('d/file1.c', false), 'file?.[ch]');
  assert.equal(rule('file?.[!ch]').match('d/file1.c', false), null);
  assert.equal(rule('a\\*b').match('a*b', false), 'a\\*b');
  assert.equal(rule('a\\*b').match('axb', false), null);
  assert.equal(rule('x.php').match('ax.php', false), null, 'dots are literal');
});

test('built-in rules: settings files anywhere, logs unless kept, dyn only under images', () => {
  const custom = Exclusions.for({ label: 'custom' });
  assert.match(custom.match('deep/er/civicrm.settings.php', false) ?? '', /settings file/);
  assert.match(custom.match('wp-config.php', false) ?? '', /settings file/);
  assert.equal(custom.match('civicrm.settings.php.txt', false), null);
  assert.match(custom.match('x/templates_c', true) ?? '', /compiled/);
  assert.equal(custom.match('x/templates_c', false), null, 'a file named templates_c is kept');
  assert.match(custom.match('ConfigAndLog', true) ?? '', /logs/);
  assert.equal(Exclusions.for({ includeLogs: true }).match('ConfigAndLog', true), null);
  assert.equal(custom.match('dyn', true), null);
  assert.match(Exclusions.for({ label: 'images' }).match('dyn', true) ?? '', /asset cache/);
  assert.equal(Exclusions.for({ label: 'images' }).match('a/dyn', true), null);
  assert.equal(custom.match('upload', true), null);
  assert.match(Exclusions.for({ excludeUploadDir: true }).match('upload', true) ?? '', /upload/);
});
