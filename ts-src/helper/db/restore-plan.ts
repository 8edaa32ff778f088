/**
 * Which parts of a set restore one database, and in which phase. Pure.
 *
 * Parts are named `<folder>/<NNN>-<what>.sql[.gz|.zst][.age]`; the number sets the order
 * (`zcat db/*.sql.gz | mariadb` restores in lexical order). The restorer keeps that order
 * and only changes what is safe to change: the prelude runs on every connection, `200-data`
 * parts load in parallel, everything else runs in lexical order on one connection.
 */
import type { DatabaseRecord, Manifest, PartRecord, TableRecord } from '../../protocol/manifest.js';

export interface DataPart {
  part: PartRecord;
  /** The table whose rows it holds (from the manifest), or null when the manifest does not say. */
  table: string | null;
}

export interface RestorePlan {
  folder: string;
  prelude: PartRecord[];
  /** Lexical order, before the data parts (schema). */
  before: PartRecord[];
  data: DataPart[];
  /** Lexical order, after the data parts (indexes, routines, views, triggers, postlude). */
  after: PartRecord[];
  /** Every part the plan reads. */
  all: PartRecord[];
  rawBytes: number;
}

const PRELUDE = '000';
const DATA = '200';

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** A part path without its compression and encryption suffixes: "db/200-data-x.sql". */
export function logicalPath(path: string): string {
  return path.replace(/\.age$/, '').replace(/\.(gz|zst)$/, '');
}

function prefixOf(path: string): string | null {
  const m = /^(\d{3})-/.exec(baseName(path));
  return m ? m[1] : null;
}

export function partsOfFolder(manifest: Manifest, folder: string): PartRecord[] {
  return manifest.parts.filter((p) => p.path.startsWith(`${folder}/`) && /\.sql(\.(gz|zst))?(\.age)?$/.test(p.path)).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export function tableOfPart(tables: TableRecord[], part: PartRecord): string | null {
  const logical = logicalPath(part.path);
  for (const table of tables) {
    for (const p of table.parts) {
      if (p === part.path || logicalPath(p) === logical || logicalPath(`${part.path.slice(0, part.path.lastIndexOf('/') + 1)}${p}`) === logical) return table.name;
    }
  }
  return null;
}

export function planRestore(manifest: Manifest, database: DatabaseRecord): RestorePlan {
  const parts = partsOfFolder(manifest, database.folder);
  const plan: RestorePlan = { folder: database.folder, prelude: [], before: [], data: [], after: [], all: parts, rawBytes: 0 };
  for (const part of parts) {
    plan.rawBytes += part.rawBytes ?? 0;
    const prefix = prefixOf(part.path);
    if (prefix === PRELUDE) plan.prelude.push(part);
    else if (prefix === DATA) plan.data.push({ part, table: tableOfPart(database.tables, part) });
    else if (prefix !== null && prefix < DATA) plan.before.push(part);
    else plan.after.push(part);
  }
  return plan;
}
