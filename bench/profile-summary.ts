/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`): self time per function, summed over
 * every profile in a directory (the main thread and each worker thread write their own).
 *
 *   npx tsx bench/profile-summary.ts DIR [TOP]
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: CpuProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileEntry {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

export async function summariseCpuProfiles(dir: string, top = 15): Promise<{ entries: ProfileEntry[]; totalMs: number; markdown: string }> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  const self = new Map<string, { name: string; where: string; us: number }>();
  let totalUs = 0;
  const perFile: string[] = [];
  for (const file of files) {
    const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    let fileUs = 0;
    let idleUs = 0;
    for (let i = 0; i < profile.samples.length; i++) {
      const node = byId.get(profile.samples[i]!);
      const dt = profile.timeDeltas[i] ?? 0;
      if (!node) continue;
      const fn = node.callFrame.functionName || '(anonymous)';
      if (fn === '(idle)') {
        idleUs += dt;
        continue;
      }
      const where = node.callFrame.url ? `${basename(node.callFrame.url)}:${node.callFrame.lineNumber + 1}` : '';
      const key = `${fn}@${where}`;
      const entry = self.get(key) ?? { name: fn, where, us: 0 };
      entry.us += dt;
      self.set(key, entry);
      fileUs += dt;
    }
    totalUs += fileUs;
    perFile.push(`${file}: ${(fileUs / 1000).toFixed(0)} ms busy, ${(idleUs / 1000).toFixed(0)} ms idle`);
  }
  const entries = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: totalUs > 0 ? e.us / totalUs : 0 }));
  const markdown = [
    perFile.map((l) => `  - ${l}`).join('\n'),
    '',
    '  | function | where | self ms | share of busy time |',
    '  |---|---|---|---|',
    ...entries.map((e) => `  | ${e.name.replace(/\|/g, '\\|')} | ${e.where} | ${e.selfMs.toFixed(0)} | ${(e.share * 100).toFixed(1)} % |`),
  ].join('\n');
  return { entries, totalMs: totalUs / 1000, markdown };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: npx tsx bench/profile-summary.ts DIR [TOP]\n');
    process.exit(2);
  }
  summariseCpuProfiles(dir, Number(process.argv[3] ?? 25)).then((s) => process.stdout.write(s.markdown + '\n'));
}
