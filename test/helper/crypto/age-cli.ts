/**
 * Driving Debian's `age` CLI from tests: X25519 through files and argv (public keys only),
 * passphrases through a pseudo-TTY, since age reads a passphrase from a terminal only.
 */
import { spawn, spawnSync } from 'node:child_process';

/** Runs `age` with `args`; returns stdout, fails the test with age's stderr otherwise. */
export function ageCli(args: string[], input?: Buffer): Buffer {
  const run = spawnSync('age', args, { input, maxBuffer: 1 << 28 });
  if (run.status !== 0) throw new Error(`age ${args.join(' ')} exited ${run.status}: ${run.stderr.toString()}`);
  return run.stdout;
}

/**
 * The age CLI reads passphrases only from a terminal: run it under `script` (a pseudo-TTY)
 * and type the passphrase each time a prompt appears (prompts are polled, not slept for).
 */
export function ageWithPassphrase(args: string[], passphrase: string, prompts: number): Promise<void> {
  const command = ['age', ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let answered = 0;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const seen = (output.match(/passphrase/gi) ?? []).length;
      while (answered < Math.min(seen, prompts)) {
        answered += 1;
        child.stdin.write(`${passphrase}\n`);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      if (code === 0) resolve();
      else reject(new Error(`age ${args.join(' ')} exited ${code}: ${output}`));
    });
  });
}
