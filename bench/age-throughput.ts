/**
 * age throughput, side by side: the helper's native implementation (ts-src/helper/crypto),
 * the age-encryption library through web streams (how the helper encrypted up to 0.1.x) and
 * Debian's `age` CLI. Each run encrypts or decrypts one file of --mib MiB (default 1024) from
 * the page cache to /dev/null in its own process, so its peak RSS is its own (GNU time %M).
 * Then the cost of random access: openAgeFile (header parse + one X25519 unwrap) plus one
 * 4 KiB read from a 16 MiB pack, and a 4 KiB read from a pack already open.
 *
 *   npx tsx bench/age-throughput.ts [--mib 1024] [--work /tmp/civibackup-age-bench] [--keep]
 *
 * Figures on a shared machine are noisy: the load average is printed before and after.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, open, rm, stat, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { Duplex, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as age from 'age-encryption';
import { createDecryptStream, createEncryptStream, generateIdentity, prepareDecryptionKeys } from '../ts-src/helper/crypto/age-stream.js';
import { openAgeFile } from '../ts-src/helper/crypto/age-file.js';
import { measureShell, sh } from './measure.js';

const SELF = fileURLToPath(import.meta.url);
const MIB = 1024 * 1024;
type Op = 'encrypt' | 'decrypt';
type Impl = 'native' | 'library';

/** The pre-0.2 path: the library's web streams wrapped as a Node Duplex (a comparator only). */
async function libraryStage(op: Op, key: string): Promise<Duplex> {
  const input = new TransformStream<Uint8Array, Uint8Array>();
  if (op === 'encrypt') {
    const encrypter = new age.Encrypter();
    encrypter.addRecipient(key);
    return Duplex.fromWeb({ writable: input.writable, readable: await encrypter.encrypt(input.readable) } as never);
  }
  const decrypter = new age.Decrypter();
  decrypter.addIdentity(key);
  // decrypt() resolves only after reading the header, so the readable side waits for it.
  const decrypted = decrypter.decrypt(input.readable) as Promise<ReadableStream<Uint8Array>>;
  let source: ReadableStreamDefaultReader<Uint8Array> | undefined;
  const output = new ReadableStream<Uint8Array>({
    async start() {
      source = (await decrypted).getReader();
    },
    async pull(controller) {
      const { done, value } = await (source as ReadableStreamDefaultReader<Uint8Array>).read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
  });
  return Duplex.fromWeb({ writable: input.writable, readable: output } as never);
}

/** Child process: one encryption or decryption of `input` to /dev/null; prints its own seconds. */
async function worker(op: Op, impl: Impl, input: string, keyFile: string): Promise<void> {
  const text = readFileSync(keyFile, 'utf8');
  const identity = /^AGE-SECRET-KEY-1\S+/m.exec(text)?.[0] ?? '';
  const recipient = /public key: (age1\S+)/.exec(text)?.[1] ?? '';
  const key = op === 'encrypt' ? recipient : identity;
  const started = process.hrtime.bigint();
  const stage =
    impl === 'library'
      ? await libraryStage(op, key)
      : op === 'encrypt'
        ? await createEncryptStream({ recipients: [key] })
        : await createDecryptStream({ identities: [key], passphrases: [] }, 'bench.age');
  await pipeline(createReadStream(input, { highWaterMark: MIB }), stage, createWriteStream('/dev/null'));
  process.stdout.write(`${Number(process.hrtime.bigint() - started) / 1e9}\n`);
}

async function makePlaintext(path: string, mib: number): Promise<void> {
  if (existsSync(path) && (await stat(path)).size === mib * MIB) return;
  const block = randomBytes(MIB);
  await pipeline(
    Readable.from(
      (function* () {
        for (let i = 0; i < mib; i += 1) yield block;
      })(),
    ),
    createWriteStream(path),
  );
}

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

function microseconds(started: bigint, count: number): string {
  return `${(Number(process.hrtime.bigint() - started) / 1e3 / count).toFixed(0)} µs`;
}

/** openAgeFile + one 4 KiB read, and a 4 KiB read from a file already open, on 16 MiB packs. */
async function randomAccess(work: string, identity: string, recipient: string): Promise<string[]> {
  const packs: string[] = [];
  for (let i = 0; i < 8; i += 1) {
    const path = join(work, `pack${i}.age`);
    await pipeline(Readable.from([randomBytes(16 * MIB)]), await createEncryptStream({ recipients: [recipient] }), createWriteStream(path));
    packs.push(path);
  }
  const rawKeys = { identities: [identity], passphrases: [] };
  // What a caller opening many packs does: parse the identity once.
  const keys = prepareDecryptionKeys(rawKeys, 'bench');
  const rounds = 2000;
  const pick = () => randomInt(16 * MIB - 4096);
  for (let i = 0; i < 200; i += 1) await (await openAgeFile(packs[i % 8], keys, 'pack')).read(pick(), 4096); // warm up
  let started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i += 1) await (await openAgeFile(packs[i % 8], keys, 'pack')).read(pick(), 4096);
  const openRead = microseconds(started, rounds);
  started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i += 1) await (await openAgeFile(packs[i % 8], rawKeys, 'pack')).read(pick(), 4096);
  const openReadRaw = microseconds(started, rounds);
  started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i += 1) await openAgeFile(packs[i % 8], keys, 'pack');
  const openOnly = microseconds(started, rounds);
  started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i += 1) await openAgeFile(packs[i % 8], keys, 'pack', { verifyFinalChunk: true });
  const openVerified = microseconds(started, rounds);
  const readers = await Promise.all(packs.map((p) => openAgeFile(p, keys, 'pack')));
  started = process.hrtime.bigint();
  // Random offsets: almost never the cached chunk, so each read is a pread + one chunk decrypted.
  for (let i = 0; i < rounds; i += 1) await readers[i % 8].read(pick(), 4096);
  const readOnly = microseconds(started, rounds);
  const handle = await open(packs[0], 'r');
  const held = await openAgeFile(handle, keys, 'pack');
  started = process.hrtime.bigint();
  for (let i = 0; i < rounds; i += 1) await held.read(pick(), 4096);
  const readHeld = microseconds(started, rounds);
  await handle.close();
  return [
    `openAgeFile + one 4 KiB read (path, prepared keys): ${openRead}; (identity string parsed each time): ${openReadRaw}`,
    `openAgeFile alone: ${openOnly}; with verifyFinalChunk: ${openVerified}`,
    `one 4 KiB read, file already open (path, opened per read): ${readOnly}; (FileHandle kept open): ${readHeld}`,
  ];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mib: { type: 'string', default: '1024' },
      work: { type: 'string', default: '/tmp/civibackup-age-bench' },
      keep: { type: 'boolean', default: false },
      worker: { type: 'string' },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.worker) {
    const [op, impl, input, keyFile] = values.worker.split(',');
    await worker(op as Op, impl as Impl, input, keyFile);
    return;
  }
  const mib = Number(values.mib);
  const work = values.work;
  await mkdir(work, { recursive: true });
  process.stdout.write(`age throughput, ${mib} MiB, node ${process.version}, ${(await measureShell('age --version')).stdout.trim() || 'no age CLI'}; load average before: ${load()}\n`);
  const { identity, recipient } = await generateIdentity();
  const keyFile = join(work, 'key.txt');
  await writeFile(keyFile, `# public key: ${recipient}\n${identity}\n`, { mode: 0o600 });
  const plain = join(work, 'plain.bin');
  const cipher = join(work, 'cipher.age');
  await makePlaintext(plain, mib);
  const made = await measureShell(`age -r ${sh(recipient)} -o ${sh(cipher)} ${sh(plain)} && cat ${sh(plain)} ${sh(cipher)} > /dev/null`);
  if (made.exitCode !== 0) throw new Error(`age -e failed: ${made.stderr}`);

  const node = (op: Op, impl: Impl, input: string) => `${sh(process.execPath)} --import tsx ${sh(SELF)} --worker ${sh([op, impl, input, keyFile].join(','))}`;
  // The same process encrypting nothing: what node, tsx and the modules take before any data.
  const empty = join(work, 'empty.bin');
  await writeFile(empty, '');
  const baseline = await measureShell(node('encrypt', 'native', empty));
  process.stdout.write(`node + tsx + modules, no data: peak RSS ${baseline.peakRssMiB.toFixed(0)} MiB, ${baseline.cpuSeconds.toFixed(1)} CPU s (included in the node rows' RSS and CPU)\n`);
  const runs: { label: string; script: string; inner: boolean }[] = [
    { label: 'encrypt  native (this module)', script: node('encrypt', 'native', plain), inner: true },
    { label: 'encrypt  age-encryption lib  ', script: node('encrypt', 'library', plain), inner: true },
    { label: 'encrypt  age CLI             ', script: `age -r ${sh(recipient)} -o /dev/null ${sh(plain)}`, inner: false },
    { label: 'decrypt  native (this module)', script: node('decrypt', 'native', cipher), inner: true },
    { label: 'decrypt  age-encryption lib  ', script: node('decrypt', 'library', cipher), inner: true },
    { label: 'decrypt  age CLI             ', script: `age -d -i ${sh(keyFile)} -o /dev/null ${sh(cipher)}`, inner: false },
  ];
  process.stdout.write(`\n${'run'.padEnd(30)} ${'MB/s'.padStart(7)} ${'seconds'.padStart(8)} ${'CPU s'.padStart(6)} ${'peak RSS'.padStart(9)}\n`);
  for (const run of runs) {
    const result = await measureShell(run.script);
    if (result.exitCode !== 0) {
      process.stdout.write(`${run.label} failed: ${result.stderr.slice(-500)}\n`);
      continue;
    }
    // Node runs time their own pipeline (without node/tsx start-up); the CLI is timed whole.
    const seconds = run.inner ? Number(result.stdout.trim().split('\n').at(-1)) : result.seconds;
    const rate = (mib * MIB) / 1e6 / seconds;
    process.stdout.write(
      `${run.label} ${rate.toFixed(0).padStart(7)} ${seconds.toFixed(2).padStart(8)} ${result.cpuSeconds.toFixed(1).padStart(6)} ${`${result.peakRssMiB.toFixed(0)} MiB`.padStart(9)}\n`,
    );
  }
  process.stdout.write('\nrandom access, 16 MiB packs (page cache), mean of 2000:\n');
  for (const line of await randomAccess(work, identity, recipient)) process.stdout.write(`  ${line}\n`);
  process.stdout.write(`\nload average after: ${load()}\n`);
  if (!values.keep) await rm(work, { recursive: true, force: true });
}

await main();
