/** A directory tree, file for file (type, mode, size, SHA-256, link target), for comparisons. */
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * What a set leaves out of a directory by design (docs/files.md, built-in rules): settings
 * files, compiled templates, file caches, CiviCRM's logs, the images directory's asset cache.
 */
const LEFT_OUT_BY_DESIGN = [/(^|\/)civicrm\.settings\.php$/, /(^|\/)templates_c(\/|$)/, /(^|\/)filecache(\/|$)/, /(^|\/)ConfigAndLog(\/|$)/];

export function fileTree(root: string, label: string): Record<string, string> {
  const tree: Record<string, string> = {};
  const walk = (relative: string): void => {
    for (const name of readdirSync(join(root, relative)).sort()) {
      const path = relative ? `${relative}/${name}` : name;
      if (LEFT_OUT_BY_DESIGN.some((rule) => rule.test(path)) || (label === 'images' && /^dyn(\/|$)/.test(path))) continue;
      const stat = lstatSync(join(root, path));
      const mode = (stat.mode & 0o777).toString(8);
      if (stat.isSymbolicLink()) tree[path] = `link ${readlinkSync(join(root, path))}`;
      else if (stat.isDirectory()) {
        tree[`${path}/`] = `dir ${mode}`;
        walk(path);
      } else if (stat.isFile()) tree[path] = `file ${mode} ${stat.size} ${createHash('sha256').update(readFileSync(join(root, path))).digest('hex')}`;
      else tree[path] = 'special';
    }
  };
  walk('');
  return tree;
}
