/**
 * What stays out of a directory archive, and why.
 *
 * Pattern syntax (`--exclude PATTERN`, job `exclude`), matched against each file and directory
 * the walker meets, relative to the directory being archived:
 *  - A pattern without a '/' (a trailing '/' does not count) matches the NAME of a file or
 *    directory at any depth: `*.log`, `cache`, `tmp/`.
 *  - A pattern with a '/' matches the PATH from the archived directory's root (a leading '/'
 *    is optional and changes nothing): `sites/*\/files`, `/upload/`.
 *  - `*` matches any characters except '/', `?` one character except '/', `[abc]`, `[a-z]`,
 *    `[!abc]` a character class, `**` any number of whole path segments (`a/**\/b`, `**\/x`),
 *    `\x` the character x literally.
 *  - A trailing '/' matches directories only.
 *  - An excluded directory is left out with everything under it (the walker does not enter it).
 *
 * Built-in rules keep CiviCRM's secret and derived files out of every archive (see
 * docs/files.md and reference/civicrm-conventions.md section 5).
 */

export interface ExclusionRule {
  /** The pattern as written, for the manifest. */
  pattern: string;
  reason: string;
  directoriesOnly: boolean;
  /** Matches the basename (no '/' in the pattern) or the whole relative path. */
  anchored: boolean;
  regex: RegExp;
}

/**
 * Settings files hold the database password (CIVICRM_DSN, the CMS's own DSN) and the site
 * key: a stolen archive must not hand them out. Matched by name anywhere under a backed-up path.
 */
export const SETTINGS_FILE_NAMES = [
  'civicrm.settings.php', // CiviCRM: CIVICRM_DSN, CIVICRM_SITE_KEY (Civi/Core/SettingsManager.php)
  'settings.php', // Drupal and Backdrop: $databases
  'settings.local.php', // Drupal local overrides
  'local.settings.php', // common local override name
  'wp-config.php', // WordPress: DB_PASSWORD
  'configuration.php', // Joomla: $password
] as const;

export interface ExclusionOptions {
  /** Administrator patterns (`--exclude`). */
  patterns?: readonly string[];
  /** Keep ConfigAndLog/ (CiviCRM's logs), excluded by default. */
  includeLogs?: boolean;
  /** Leave out `upload/` at the archived root (CiviCRM's temporary upload dir), off by default. */
  excludeUploadDir?: boolean;
  /** The directory's label: `images` also drops its `dyn/` asset cache. */
  label?: string;
}

/** Translates a glob (syntax above) into a regular expression source, without anchors. */
export function globToRegexSource(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i];
    if (c === '\\' && i + 1 < glob.length) {
      out += escapeRegex(glob[i + 1]);
      i += 1;
    } else if (c === '*') {
      if (glob[i + 1] === '*') {
        const atSegmentStart = i === 0 || glob[i - 1] === '/';
        const followedBySlash = glob[i + 2] === '/';
        const atEnd = i + 2 === glob.length;
        if (atSegmentStart && followedBySlash) {
          out += '(?:.*/)?'; // "**/": zero or more whole segments
          i += 2;
          continue;
        }
        if (atSegmentStart && atEnd) {
          out += '.*';
          i += 1;
          continue;
        }
        out += '[^/]*'; // "**" inside a segment behaves like "*"
        i += 1;
        continue;
      }
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close === -1) {
        out += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      out += `[${negate ? '^/' : ''}${body.replace(/[\\\]^]/g, (m) => `\\${m}`)}]`;
      i = close;
    } else {
      out += escapeRegex(c);
    }
  }
  return out;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, (m) => `\\${m}`);
}

export function compileRule(pattern: string, reason: string): ExclusionRule {
  let body = pattern.trim();
  const directoriesOnly = body.endsWith('/');
  body = body.replace(/\/+$/, '');
  const anchored = body.includes('/');
  body = body.replace(/^\/+/, '');
  if (body === '') throw new Error(`empty exclude pattern "${pattern}"`);
  return { pattern, reason, directoriesOnly, anchored, regex: new RegExp(`^${globToRegexSource(body)}$`, 'u') };
}

export function builtinRules(options: ExclusionOptions = {}): ExclusionRule[] {
  const rules: ExclusionRule[] = SETTINGS_FILE_NAMES.map((name) =>
    compileRule(name, 'settings file: holds the database password (built-in rule)'),
  );
  rules.push(compileRule('templates_c/', 'compiled templates, rebuilt by CiviCRM (built-in rule)'));
  rules.push(compileRule('filecache/', 'file cache, rebuilt by CiviCRM (built-in rule)'));
  if (!options.includeLogs) rules.push(compileRule('ConfigAndLog/', 'CiviCRM logs; pass --include-logs to keep them (built-in rule)'));
  if (options.label === 'images') rules.push(compileRule('/dyn/', 'asset cache of the images directory, rebuilt by CiviCRM (built-in rule)'));
  if (options.excludeUploadDir) rules.push(compileRule('/upload/', "CiviCRM's temporary upload directory (excluded on request)"));
  return rules;
}

export class Exclusions {
  constructor(readonly rules: readonly ExclusionRule[]) {}

  static for(options: ExclusionOptions): Exclusions {
    const own = (options.patterns ?? []).map((p) => compileRule(p, `--exclude ${p}`));
    return new Exclusions([...builtinRules(options), ...own]);
  }

  /** The reason `relPath` is excluded, or null to keep it. `relPath` is '/'-separated, no leading '/'. */
  match(relPath: string, isDirectory: boolean): string | null {
    const slash = relPath.lastIndexOf('/');
    const name = slash === -1 ? relPath : relPath.slice(slash + 1);
    for (const rule of this.rules) {
      if (rule.directoriesOnly && !isDirectory) continue;
      if (rule.regex.test(rule.anchored ? relPath : name)) return rule.reason;
    }
    return null;
  }
}

/** Checks administrator patterns up front, so a typo fails the run before anything is written. */
export function validateExcludePatterns(patterns: readonly string[]): string[] {
  const problems: string[] = [];
  for (const p of patterns) {
    try {
      compileRule(p, '');
    } catch (error) {
      problems.push((error as Error).message);
    }
  }
  return problems;
}
