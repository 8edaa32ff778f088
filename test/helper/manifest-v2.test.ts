import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { compareTreePaths, isManifestV2, manifestV2Path, sourceIdentity, validateCatalog, validateManifestV2, type ManifestV2 } from '../../ts-src/protocol/manifest.js';
import { extensionOf, incompressibleByName } from '../../ts-src/helper/files/compressibility.js';
import { encodeBlob, sampleCompresses } from '../../ts-src/helper/repo/blob-codec.js';

const id = (c: string): string => c.repeat(64);

function manifest(): ManifestV2 {
  return {
    format: 'civibackup-set',
    version: 2,
    id: '20261206T104500Z-abcd',
    repository: '0123456789abcdef',
    createdAt: '2026-12-06T10:45:00.000Z',
    finishedAt: '2026-12-06T10:45:01.000Z',
    tool: { name: 'civibackup', version: '0.1.0', node: '22.0.0' },
    source: { hostname: 'web1' },
    encryption: null,
    compression: { algorithm: 'gzip', level: 6 },
    catalog: [id('a')],
    packs: [{ name: id('b'), bytes: 10 }],
    stats: { addedBytes: 10, referencedBytes: 10, blobs: 2, newBlobs: 2 },
    summary: { tables: 0, rows: 0, directories: 1, files: 1, bytes: 5, databases: [{ role: 'main', name: 'civicrm', host: 'db1' }] },
    warnings: [],
  };
}

test('a v2 manifest validates; each broken field is named', () => {
  assert.deepEqual(validateManifestV2(manifest()), []);
  assert.equal(isManifestV2(manifest()), true);
  assert.equal(isManifestV2({ formatVersion: 1 }), false);
  const broken = { ...manifest(), version: 3, id: 'x', catalog: ['nothex'], packs: [{ name: 'p', bytes: -1 }], stats: { addedBytes: 1 } };
  assert.deepEqual(validateManifestV2(broken), [
    'unsupported version 3',
    'id missing or malformed',
    'catalog[0] is not a blob id',
    'packs[0].name invalid',
    'packs[0].bytes invalid',
    'stats.referencedBytes invalid',
    'stats.blobs invalid',
    'stats.newBlobs invalid',
  ]);
  assert.deepEqual(validateManifestV2({ ...manifest(), catalog: [] }), ['catalog missing']);
  assert.equal(manifestV2Path('20261206T104500Z-abcd'), 'sets/20261206T104500Z-abcd/manifest.json');
});

test('a v2 manifest has the same source identity as a v1 manifest of the same site', () => {
  const v1 = { source: { hostname: 'web1' }, databases: [{ role: 'main', name: 'civicrm', host: 'db1' }] };
  assert.equal(sourceIdentity(manifest()), sourceIdentity(v1));
  assert.equal(sourceIdentity(manifest()), 'host=web1|db=db1/civicrm');
  assert.equal(sourceIdentity({ ...manifest(), source: { hostname: 'web1', id: 'prod' } }), 'prod');
});

test('catalog validation refuses a tree that is not a list of blob ids', () => {
  assert.deepEqual(validateCatalog({ databases: [], files: [{ label: 'x', tree: [id('c')] }] }), []);
  assert.deepEqual(validateCatalog({ databases: [], files: [{ label: 'x', tree: ['../etc'] }] }), ['catalog files[0].tree invalid']);
  assert.deepEqual(validateCatalog([]), ['catalog databases missing', 'catalog files missing']);
});

test('tree paths sort in walk order: a directory right before its contents', () => {
  const paths = ['a-b', 'a/x', '.', 'a', 'a/x/y', 'b', 'a.txt', 'A'];
  assert.deepEqual([...paths].sort(compareTreePaths), ['.', 'A', 'a', 'a/x', 'a/x/y', 'a-b', 'a.txt', 'b']);
  assert.equal(compareTreePaths('x', 'x'), 0);
});

test('compressibility: known formats by name, the rest by a deflate sample (large blobs) or by trying (small ones)', async () => {
  assert.equal(extensionOf('dir.d/Scan.PDF'), 'pdf');
  assert.equal(extensionOf('.bashrc'), '');
  assert.equal(extensionOf('noext'), '');
  assert.equal(incompressibleByName('photos/a.JPG'), true);
  assert.equal(incompressibleByName('notes/a.txt'), false);
  const text = Buffer.from('Dear friend, thank you for your donation. '.repeat(3000));
  const noise = randomBytes(200 * 1024);
  assert.equal(await sampleCompresses(text), true);
  assert.equal(await sampleCompresses(noise), false);
  // Half noise, half text in the first 64 KiB still saves more than 5 %.
  assert.equal(await sampleCompresses(Buffer.concat([noise.subarray(0, 32 * 1024), text.subarray(0, 32 * 1024)])), true);
  // The name wins over the content: what the tree backup says is incompressible is never deflated.
  assert.equal((await encodeBlob(text, 'gzip', 6, false)).encoding, 'none');
  // Unknown content: text is compressed, noise (large: sampled; small: tried) is stored as it is.
  assert.equal((await encodeBlob(text, 'gzip', 6)).encoding, 'gzip');
  assert.equal((await encodeBlob(noise, 'gzip', 6)).encoding, 'none');
  const smallNoise = randomBytes(5000);
  const small = await encodeBlob(smallNoise, 'gzip', 6);
  assert.equal(small.encoding, 'none');
  assert.ok(small.bytes.equals(smallNoise));
});
