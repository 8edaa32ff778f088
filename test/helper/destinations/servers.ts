/**
 * Real servers for the destination tests, on 127.0.0.1 and free ports: s3rver in-process,
 * and a private OpenSSH sshd (toolchain.md section 6) started and stopped by the test.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

const require = createRequire(import.meta.url);

export const S3_BUCKET = 'offsite';

export interface S3Server {
  /** "METHOD url" of every request received, for checks such as "was multipart used". */
  requests: string[];
  endpoint: string;
  port: number;
  directory: string;
  /** Drops every open connection and stops listening (a cut mid-upload). */
  cut(): Promise<void>;
  /** Starts again on the same port and directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startS3(port = 0, directory = mkdtempSync(join(tmpdir(), 'cbt_offsite_s3_'))): Promise<S3Server> {
  const requests: string[] = [];
  const logRequests = (): void => {
    server.httpServer?.on('request', (request: { method?: string; url?: string }) => requests.push(`${request.method} ${request.url}`));
  };
  let server = new S3rver({ address: '127.0.0.1', port, silent: true, directory, configureBuckets: [{ name: S3_BUCKET }] });
  const info = await server.run();
  logRequests();
  const handle: S3Server = {
    requests,
    endpoint: `http://127.0.0.1:${info.port}`,
    port: info.port,
    directory,
    async cut() {
      const closing = server.close();
      server.httpServer?.closeAllConnections();
      await closing;
    },
    async restart() {
      server = new S3rver({ address: '127.0.0.1', port: info.port, silent: true, directory, configureBuckets: [{ name: S3_BUCKET }] });
      await server.run();
      logRequests();
    },
    async stop() {
      await handle.cut().catch(() => undefined);
      rmSync(directory, { recursive: true, force: true });
    },
  };
  return handle;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export interface SshServer {
  port: number;
  dir: string;
  /** Client private key text, as the job's privateKeyEnv would hold it. */
  privateKey: string;
  /** SHA256 host key fingerprint, as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** Remote directory for the sets. */
  root: string;
  /** Kills sshd and every session it spawned (a cut mid-upload). */
  kill(): void;
  restart(): Promise<void>;
  stop(): void;
}

function listening(port: number): boolean {
  const out = spawnSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).stdout;
  return out.includes(`127.0.0.1:${port}`);
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Children of `pid` (sshd's per-connection processes), from /proc. */
function childPids(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry), ...childPids(Number(entry)));
    } catch {
      /* gone */
    }
  }
  return found;
}

export async function startSshd(): Promise<SshServer> {
  const dir = mkdtempSync(join(tmpdir(), 'cbt_offsite_sshd_'));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_ed25519')]);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_ed25519')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client_ed25519.pub')));
  chmodSync(join(dir, 'authorized_keys'), 0o600);
  const fingerprint = execFileSync('ssh-keygen', ['-lf', join(dir, 'host_ed25519.pub')], { encoding: 'utf8' }).split(' ')[1]!;
  const root = join(dir, 'remote');
  mkdirSync(root);
  mkdirSync('/run/sshd', { recursive: true });
  let port = 0;
  const start = async (): Promise<void> => {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      if (!port || attempt > 0) port = await freePort();
      writeFileSync(
        join(dir, 'sshd_config'),
        [
          `Port ${port}`,
          'ListenAddress 127.0.0.1',
          `HostKey ${join(dir, 'host_ed25519')}`,
          `PidFile ${join(dir, 'sshd.pid')}`,
          `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          'StrictModes no',
          'Subsystem sftp internal-sftp',
          '',
        ].join('\n'),
      );
      rmSync(join(dir, 'sshd.pid'), { force: true });
      // sshd daemonizes and exits 0 even when the bind failed: check that the port listens.
      execFileSync('/usr/sbin/sshd', ['-f', join(dir, 'sshd_config'), '-E', join(dir, 'sshd.log')]);
      try {
        await waitFor(() => listening(port), `sshd on port ${port}`, 10_000);
        return;
      } catch {
        killMaster();
      }
    }
    throw new Error(`sshd did not start; see ${join(dir, 'sshd.log')}`);
  };
  const masterPid = (): number | null => {
    try {
      return Number(readFileSync(join(dir, 'sshd.pid'), 'utf8').trim()) || null;
    } catch {
      return null;
    }
  };
  const killMaster = (): void => {
    const pid = masterPid();
    if (!pid) return;
    for (const child of childPids(pid)) {
      try {
        process.kill(child, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    rmSync(join(dir, 'sshd.pid'), { force: true });
  };
  await start();
  const server: SshServer = {
    get port() {
      return port;
    },
    dir,
    privateKey: readFileSync(join(dir, 'client_ed25519'), 'utf8'),
    hostKeyFingerprint: fingerprint,
    root,
    kill: killMaster,
    async restart() {
      killMaster();
      await waitFor(() => !listening(port), 'sshd to stop');
      await start();
    },
    stop() {
      killMaster();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/**
 * s3rver in a child process started with --openssl-legacy-provider: s3rver makes its listing
 * continuation tokens with a cipher OpenSSL 3 keeps in the legacy provider, so listing past
 * one page (1,000 keys, or a smaller MaxKeys) fails with InternalError in a normal Node
 * process. Requests are reported back as "METHOD url" lines, as startS3 records them.
 */
export async function startS3WithPaging(directory = mkdtempSync(join(tmpdir(), 'cbt_offsite_s3p_'))): Promise<Pick<S3Server, 'requests' | 'endpoint' | 'port' | 'directory' | 'stop'>> {
  const script = `
    const S3rver = require(${JSON.stringify(require.resolve('s3rver'))});
    const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: ${JSON.stringify(directory)}, configureBuckets: [{ name: ${JSON.stringify(S3_BUCKET)} }] });
    server.run().then((info) => {
      server.httpServer.on('request', (r) => process.stdout.write('REQ ' + r.method + ' ' + r.url + '\\n'));
      process.stdout.write('PORT ' + info.port + '\\n');
    });`;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const requests: string[] = [];
  let buffered = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      buffered += text;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.startsWith('PORT ')) resolve(Number(line.slice(5)));
        else if (line.startsWith('REQ ')) requests.push(line.slice(4));
      }
    });
  });
  return {
    requests,
    endpoint: `http://127.0.0.1:${port}`,
    port,
    directory,
    async stop() {
      child.kill();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
