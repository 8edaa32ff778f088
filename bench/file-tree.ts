/**
 * A generated directory tree shaped like CiviCRM's custom-files and images folders: many small
 * text files (HTML templates, CSV imports), some compressible documents and incompressible
 * images. Deterministic names and sizes; image bytes are random (as JPEG data is, to gzip).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface FileTreeInfo {
  files: number;
  bytes: number;
}

const TEXT_LINE = 'Contact,Émile Dubois,émile@example.org,+33 1 23 45 67 89,Rue de la Paix 12,75002 Paris,2024-05-01,"Don 🎁",100.00\n';

export async function createFileTree(root: string, targetMiB: number): Promise<FileTreeInfo> {
  const target = targetMiB * 1024 * 1024;
  let bytes = 0;
  let files = 0;
  let i = 0;
  while (bytes < target) {
    const kind = i % 10;
    const dir = join(root, kind < 6 ? `custom/${i % 37}` : kind < 9 ? `images/${i % 11}` : 'templates');
    await mkdir(dir, { recursive: true });
    let content: Buffer;
    let name: string;
    if (kind < 6) {
      // small text: CSV exports, receipts, HTML, 1-40 KiB, compressible
      const lines = 10 + ((i * 7919) % 400);
      content = Buffer.from(`# export ${i}\n` + TEXT_LINE.repeat(lines).replace(/100\.00/g, String(i % 1000)));
      name = `export_${i}.csv`;
    } else if (kind < 9) {
      // images: random bytes, 20-520 KiB
      content = randomBytes(20 * 1024 + ((i * 104729) % (500 * 1024)));
      name = `photo_${i}.jpg`;
    } else {
      // PDFs: half random, half repetitive, 100 KiB - 1.1 MiB
      const size = 100 * 1024 + ((i * 15485863) % (1024 * 1024));
      content = Buffer.concat([randomBytes(size >> 1), Buffer.from(TEXT_LINE.repeat(Math.ceil((size >> 1) / TEXT_LINE.length)))]);
      name = `Rapport_annuel_${i}.pdf`;
    }
    await writeFile(join(dir, name), content);
    bytes += content.length;
    files += 1;
    i += 1;
  }
  return { files, bytes };
}
