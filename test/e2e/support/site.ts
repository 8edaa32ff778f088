/**
 * A real CiviCRM site for the end-to-end suite, built by the shared scripts
 * (setup-standalone.sh, setup-wordpress.sh) into a temporary root and a temporary database,
 * served by `php -S` on a free port (never 8080/8081, so a developer's own sites stay
 * untouched), and driven from php-cli through the scripts' bootstrap helpers.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort, type E2eEnvironment } from './environment.js';

export type SiteKind = 'standalone' | 'wordpress';

/** What the site says about itself (from php-cli, through CiviCRM). */
export interface SiteFacts {
  settingsFile: string;
  siteKey: string;
  extensionsDir: string;
  adminContactId: number;
  /** CiviCRM's Directories settings, resolved (no trailing slash), by the set's labels. */
  directories: Record<string, string>;
  dsnDatabase: string;
  /** CIVICRM_DSN as the site has it (a test site: root without a password); only ever passed in the environment. */
  dsn: string;
}

const RESULT_MARK = '@@civibackup-e2e-result@@';

export class CiviSite {
  readonly kind: SiteKind;
  readonly env: E2eEnvironment;
  /** Holds the site root, work files and backups; removed at the end. */
  readonly workDir: string;
  readonly root: string;
  readonly database: string;
  port = 0;
  private server: ChildProcess | undefined;
  private serverLog = '';
  facts!: SiteFacts;

  constructor(kind: SiteKind, env: E2eEnvironment) {
    this.kind = kind;
    this.env = env;
    if (env.keep) {
      const name = env.keepName ? `${env.keepName}-` : '';
      this.workDir = join(tmpdir(), `civibackup-e2e-keep-${name}${kind}`);
      mkdirSync(this.workDir, { recursive: true });
      this.database = `civibackup_e2e_keep_${name.replace('-', '_')}${kind === 'standalone' ? 'sa' : 'wp'}`;
    } else {
      this.workDir = mkdtempSync(join(tmpdir(), `civibackup-e2e-${kind}-`));
      this.database = `civibackup_e2e_${kind === 'standalone' ? 'sa' : 'wp'}_${randomBytes(4).toString('hex')}`;
    }
    this.root = join(this.workDir, 'site');
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The URL of a CiviCRM page (path like civicrm/admin/setting/civibackup). */
  pageUrl(path: string, query = 'reset=1'): string {
    return this.kind === 'standalone'
      ? `${this.baseUrl}/${path}?${query}`
      : `${this.baseUrl}/wp-admin/admin.php?page=CiviCRM&q=${path}&${query}`;
  }

  /** Builds the site with the shared script (idempotent: with CIVIBACKUP_E2E_KEEP a second run re-uses it). */
  async build(): Promise<void> {
    const portFile = join(this.workDir, 'port');
    this.port = this.env.keep ? Number(readFileOr(portFile, '0')) || (await freePort()) : await freePort();
    writeFileSync(portFile, String(this.port));
    const script = join(this.env.scripts, this.kind === 'standalone' ? 'setup-standalone.sh' : 'setup-wordpress.sh');
    const variables: NodeJS.ProcessEnv = this.kind === 'standalone'
      ? { CIVI_BASE_URL: this.baseUrl, CIVI_DB_NAME: this.database, CIVI_SKIP_HTTP: '1', CIVI_SAMPLE_CONTACTS: '20' }
      : { WPCIVI_URL: this.baseUrl, WPCIVI_DB_NAME: this.database, WPCIVI_SKIP_HTTP: '1', WPCIVI_SAMPLE_CONTACTS: '20' };
    const args = [script, this.root, this.env.archive, ...(this.env.keep ? [] : ['--reinstall'])];
    const run = await runProcess('bash', args, { ...process.env, ...variables });
    if (run.status !== 0) throw new Error(`${script} failed (${run.status}):\n${tail(run.output, 4000)}`);
    await this.loadFacts();
  }

  /** Reads what the site says about itself (settings file, site key, Directories...). */
  async loadFacts(): Promise<void> {
    if (!this.port) this.port = Number(readFileOr(join(this.workDir, 'port'), '0'));
    this.facts = await this.php<SiteFacts>(`
      $config = CRM_Core_Config::singleton();
      $dirs = [];
      foreach (['custom' => 'customFileUploadDir', 'images' => 'imageUploadDir', 'templates' => 'customTemplateDir', 'php' => 'customPHPPathDir', 'extensions' => 'extensionsDir'] as $label => $property) {
        if (!empty($config->{$property})) $dirs[$label] = rtrim($config->{$property}, '/');
      }
      return [
        'settingsFile' => CIVICRM_SETTINGS_PATH,
        'siteKey' => CIVICRM_SITE_KEY,
        'extensionsDir' => rtrim($config->extensionsDir, '/'),
        'adminContactId' => (int) ${this.kind === 'standalone' ? `\\Civi\\Api4\\User::get(FALSE)->addWhere('username', '=', 'admin')->execute()->first()['contact_id']` : `$GLOBALS['wpcivi_contact_id']`},
        'directories' => $dirs,
        'dsnDatabase' => trim((string) parse_url(CIVICRM_DSN, PHP_URL_PATH), '/'),
        'dsn' => CIVICRM_DSN,
      ];`);
  }

  /**
   * Runs PHP inside the booted site (php-cli, as the site's administrator on WordPress) and
   * returns what the body returns, through JSON. `body` is the inside of a function.
   */
  async php<T = unknown>(body: string, options: { allowFailure?: boolean } = {}): Promise<T> {
    const file = join(this.workDir, `e2e-${randomBytes(4).toString('hex')}.php`);
    const boot = this.kind === 'standalone'
      ? `require ${phpString(join(this.env.scripts, 'civi-bootstrap.inc.php'))};\ncivi_setup_boot(TRUE);`
      : `define('WPCIVI_ROOT', ${phpString(this.root)});\nrequire ${phpString(join(this.env.scripts, 'wp-bootstrap.inc.php'))};`;
    writeFileSync(
      file,
      `<?php\n${boot}\n$e2eResult = (function () {\n${body}\n})();\necho "\\n${RESULT_MARK}", json_encode($e2eResult), "\\n";\n`,
    );
    try {
      const run = await runProcess('php', [file, this.root], { ...process.env, ...this.phpVariables() });
      const at = run.stdout.lastIndexOf(RESULT_MARK);
      if (run.status !== 0 || at < 0) {
        const error = new Error(`php in the ${this.kind} site failed (${run.status}):\n${tail(run.output, 3000)}`);
        if (options.allowFailure) return { failed: true, output: run.output } as T;
        throw error;
      }
      return JSON.parse(run.stdout.slice(at + RESULT_MARK.length).split('\n')[0]) as T;
    } finally {
      rmSync(file, { force: true });
    }
  }

  private phpVariables(): NodeJS.ProcessEnv {
    return this.kind === 'standalone'
      ? { CIVI_BASE_URL: this.baseUrl }
      : { WPCIVI_URL: this.baseUrl, WPCIVI_ROOT: this.root, WPCIVI_USER: 'admin' };
  }

  /** Serves the site with PHP's built-in server and the scripts' router (3 workers: CiviCRM calls itself). */
  async start(): Promise<void> {
    const router = join(this.root, this.kind === 'standalone' ? 'router.php' : 'wp-router.php');
    this.server = spawn('php', ['-S', `127.0.0.1:${this.port}`, '-t', this.root, router], {
      env: { ...process.env, PHP_CLI_SERVER_WORKERS: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.server.stdout?.on('data', (d: Buffer) => (this.serverLog = tail(this.serverLog + d.toString('utf8'), 20_000)));
    this.server.stderr?.on('data', (d: Buffer) => (this.serverLog = tail(this.serverLog + d.toString('utf8'), 20_000)));
    for (let attempt = 0; attempt < 100; attempt++) {
      try {
        await fetch(`${this.baseUrl}/`, { redirect: 'manual', signal: AbortSignal.timeout(2000) });
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`php -S on ${this.baseUrl} did not answer:\n${this.serverLog}`);
  }

  get log(): string {
    return this.serverLog;
  }

  /** Stops the server and its workers (its own process group, by id). */
  stop(): void {
    const pid = this.server?.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
    this.server = undefined;
  }

  /** Drops the site's database and removes its root (kept with CIVIBACKUP_E2E_KEEP). */
  destroy(extraDatabases: string[] = []): void {
    this.stop();
    const drop = (this.env.keep ? extraDatabases : [this.database, ...extraDatabases]).map((d) => `DROP DATABASE IF EXISTS \`${d}\`;`).join('');
    if (drop) spawnSync('mariadb', ['-h', '127.0.0.1', '-u', 'root', '-e', drop]);
    if (!this.env.keep) rmSync(this.workDir, { recursive: true, force: true });
  }
}

export function phpString(text: string): string {
  return `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function readFileOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

export function tail(text: string, length: number): string {
  return text.length > length ? text.slice(-length) : text;
}

export interface ProcessRun {
  status: number;
  stdout: string;
  stderr: string;
  output: string;
}

/** Runs a command without blocking the test runner; output kept for the error message. */
export function runProcess(command: string, args: string[], env: NodeJS.ProcessEnv = process.env, cwd?: string): Promise<ProcessRun> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString('utf8');
      output = tail(output + d.toString('utf8'), 200_000);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString('utf8');
      output = tail(output + d.toString('utf8'), 200_000);
    });
    child.on('error', reject);
    child.on('close', (code) => resolveRun({ status: code ?? 1, stdout, stderr, output }));
  });
}
