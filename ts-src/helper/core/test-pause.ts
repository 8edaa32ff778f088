/**
 * Named points where a test can freeze the helper to kill it there (SIGKILL) and check what
 * a crash at that moment leaves behind. Inert unless CIVIBACKUP_TEST_PAUSE_AT names the
 * point: the helper then writes "civibackup-test-pause NAME" on stderr and waits forever.
 */
export const TEST_PAUSE_ENV = 'CIVIBACKUP_TEST_PAUSE_AT';

export async function pausePoint(name: string): Promise<void> {
  if (process.env[TEST_PAUSE_ENV] !== name) return;
  process.stderr.write(`civibackup-test-pause ${name}\n`);
  await new Promise<void>(() => {
    setInterval(() => undefined, 1 << 30);
  });
}
