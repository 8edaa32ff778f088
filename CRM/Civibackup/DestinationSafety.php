<?php
declare(strict_types = 1);

/**
 * Keeping backup sets (and run logs) away from the web: the directories CiviBackup writes get
 * a deny-all .htaccess and mode 0700 when it creates them; a destination inside the web root
 * is probed for real (CRM_Civibackup_DownloadProbe): System Status raises an error and no
 * set is written there when the web server serves it. System Status also says when the
 * destination is readable by every user of the server.
 */
final class CRM_Civibackup_DestinationSafety {

  public const DENY_ALL_HTACCESS = <<<'HTACCESS'
<Files "*">
# OpenLiteSpeed 1.4.38+
  <IfModule !authz_core_module>
    RewriteRule .* - [F,L]
  </IfModule>

# Apache 2.2
  <IfModule !authz_core_module>
    Order allow,deny
    Deny from all
  </IfModule>

# Apache 2.4+
  <IfModule authz_core_module>
    Require all denied
  </IfModule>
</Files>

HTACCESS;

  /**
   * The download probe's cache, in the state directory ([civicrm.private]/civibackup).
   */
  public const PROBE_CACHE_FILE = 'download-probe.json';

  /**
   * @var CRM_Civibackup_Civi
   */
  private $civi;

  /**
   * @var CRM_Civibackup_DownloadProbe|null
   */
  private $probe;

  /**
   * @param CRM_Civibackup_DownloadProbe|null $probe
   *   NULL: one for this site's web root and URL, cached in the state directory.
   */
  public function __construct(CRM_Civibackup_Civi $civi, ?CRM_Civibackup_DownloadProbe $probe = NULL) {
    $this->civi = $civi;
    $this->probe = $probe;
  }

  public function probe(): CRM_Civibackup_DownloadProbe {
    if ($this->probe === NULL) {
      $this->probe = new CRM_Civibackup_DownloadProbe($this->civi->webRoot(), $this->civi->webRootUrl(), $this->civi->resolvePath('[civicrm.private]/civibackup') . '/' . self::PROBE_CACHE_FILE);
    }
    return $this->probe;
  }

  /**
   * The destination exists (created 0700 when missing) and is protected; a clear error when
   * it cannot be created.
   */
  public function ensureDestination(string $destination): void {
    if (!is_dir($destination) && !@mkdir($destination, 0700, TRUE) && !is_dir($destination)) {
      throw new CRM_Civibackup_Error('IO', "Cannot create the destination directory $destination.", 'Create it and make it writable by the web server user, or choose another destination.');
    }
    $this->protectDirectory($destination);
  }

  /**
   * Defence in depth for a directory that ends up under the web root (the default
   * [civicrm.private] is there on some installs): the deny-all .htaccess CiviCRM writes for
   * its own upload directories (CRM_Utils_File::restrictAccess). Only Apache reads it, so
   * the download probe checks what the web server really does.
   */
  public function protectDirectory(string $dir): void {
    if (!is_dir($dir) && !@mkdir($dir, 0700, TRUE) && !is_dir($dir)) {
      return;
    }
    $htaccess = rtrim($dir, '/') . '/.htaccess';
    if (!file_exists($htaccess)) {
      @file_put_contents($htaccess, self::DENY_ALL_HTACCESS);
    }
  }

  /**
   * Refuses to write sets where the web server serves them: CONFIG with what to do. A cached
   * "served" is asked again first, so a fixed server is believed at once; other cached
   * answers are reused. The destination must exist (ensureDestination).
   *
   * @throws CRM_Civibackup_Error
   */
  public function refuseIfDownloadable(string $destination): void {
    $result = $this->probe()->result($destination);
    if ($result['state'] === CRM_Civibackup_DownloadProbe::SERVED) {
      $result = $this->probe()->result($destination, TRUE);
    }
    if ($result['state'] === CRM_Civibackup_DownloadProbe::SERVED) {
      throw $this->downloadableError($result);
    }
  }

  /**
   * For a destination about to be saved: NULL when it is fine (or cannot be judged), else
   * the error saying it is served. Creates the directory only when it is inside the web
   * root (the probe needs it); always asks the web server anew.
   */
  public function downloadableErrorFor(string $destination): ?CRM_Civibackup_Error {
    $webRoot = $this->civi->webRoot();
    $realRoot = $webRoot !== NULL ? (realpath($webRoot) ?: $webRoot) : NULL;
    if ($realRoot === NULL || !CRM_Civibackup_JobBuilder::isInside(self::realPathOf($destination), $realRoot)) {
      return NULL;
    }
    try {
      $this->ensureDestination($destination);
    }
    catch (CRM_Civibackup_Error $e) {
      return NULL;
    }
    $result = $this->probe()->result($destination, TRUE);
    return $result['state'] === CRM_Civibackup_DownloadProbe::SERVED ? $this->downloadableError($result) : NULL;
  }

  /**
   * The error of a destination the web server serves: what was found, and the two fixes
   * (a destination outside the web root, or a deny rule for nginx or Apache).
   */
  public function downloadableError(array $result): CRM_Civibackup_Error {
    return new CRM_Civibackup_Error(
      'CONFIG',
      $this->civi->ts('The backup destination %1 can be downloaded from the web: CiviBackup wrote a test file there and the web server served it at %2/. Anyone who guesses a file name could download your database, so no backup is written there.', [1 => $result['destination'], 2 => $result['url']]),
      $this->civi->ts('Choose a destination outside the web root %1 (for example %2), or make the web server deny it. nginx (which ignores .htaccess): %3  Apache: %4', [
        1 => $result['webRoot'],
        2 => $this->suggestedOutsideDestination($result['webRoot']),
        3 => self::nginxDenySnippet($result),
        4 => self::apacheDenySnippet($result),
      ])
    );
  }

  /**
   * nginx: a prefix location that wins over regex locations (^~) and denies everything.
   */
  public static function nginxDenySnippet(array $result): string {
    return 'location ^~ ' . self::urlPath((string) $result['url']) . '/ { deny all; }';
  }

  /**
   * Apache 2.4: the same as the .htaccess CiviBackup writes, in the server configuration
   * (which is obeyed even with AllowOverride None).
   */
  public static function apacheDenySnippet(array $result): string {
    return '<Directory "' . $result['destination'] . '"> Require all denied </Directory>';
  }

  /**
   * The URL's path as nginx matches it (decoded).
   */
  private static function urlPath(string $url): string {
    return rawurldecode((string) parse_url($url, PHP_URL_PATH));
  }

  /**
   * Where a destination outside the web root would go (Site::besideWebRoot), for the hint.
   */
  private function suggestedOutsideDestination(?string $webRoot): string {
    return $webRoot === NULL ? '/var/backups/civicrm' : CRM_Civibackup_Site::besideWebRoot($webRoot);
  }

  private static function realPathOf(string $path): string {
    // The nearest existing ancestor's real path, plus the rest: a destination not created
    // yet can still be inside the web root through a symlinked parent.
    $rest = '';
    $path = rtrim($path, '/');
    while ($path !== '' && $path !== '/' && !file_exists($path)) {
      $rest = '/' . basename($path) . $rest;
      $path = dirname($path);
    }
    return rtrim((realpath($path === '' ? '/' : $path) ?: $path), '/') . $rest;
  }

  /**
   * The status checks about the destination: downloadable (error), inside the web root
   * (notice when the web server refused the probe; a warning, or critical when no .htaccess
   * denies access, when the probe could not tell) and readable by every user.
   *
   * @return array[]
   *   Each: name, level, message, icon.
   */
  public function checks(string $destination): array {
    $records = [];
    $webRoot = $this->civi->webRoot();
    $real = self::realPathOf($destination);
    $realRoot = $webRoot !== NULL ? (realpath($webRoot) ?: $webRoot) : NULL;
    if ($realRoot !== NULL && CRM_Civibackup_JobBuilder::isInside($real, $realRoot)) {
      if (!is_dir($real)) {
        // The first backup would create it just so; the probe needs it now.
        try {
          $this->ensureDestination($real);
        }
        catch (CRM_Civibackup_Error $e) {
        }
      }
      $result = $this->probe()->result($real);
      if ($result['state'] === CRM_Civibackup_DownloadProbe::SERVED) {
        $error = $this->downloadableError($result);
        $records[] = ['name' => 'civibackupDestinationDownloadable', 'level' => 'error', 'message' => $error->getMessage() . ' ' . $error->getHint(), 'icon' => 'fa-lock'];
      }
      elseif ($result['state'] === CRM_Civibackup_DownloadProbe::NOT_SERVED) {
        $records[] = ['name' => 'civibackupDestinationInWebRoot', 'level' => 'notice', 'message' => $this->civi->ts('The backup destination %1 is inside the web root %2. The web server refused to serve a test file there (%3, checked %4); CiviBackup checks again every hour. A destination outside the web root does not depend on that rule.', [1 => $real, 2 => $realRoot, 3 => $result['reason'], 4 => gmdate('Y-m-d H:i', (int) $result['checkedAt']) . ' UTC']), 'icon' => 'fa-lock'];
      }
      else {
        $denyFile = self::findDenyingHtaccess($real, $realRoot);
        $why = $this->civi->ts('CiviBackup could not check whether files there can be downloaded (%1).', [1 => $result['reason']]);
        if ($denyFile === NULL) {
          $records[] = ['name' => 'civibackupDestinationInWebRoot', 'level' => 'critical', 'message' => $this->civi->ts('The backup destination %1 is inside the web root %2 and nothing denies web access to it: anyone who guesses a file name may download your whole database. Choose a destination outside the web root.', [1 => $real, 2 => $realRoot]) . ' ' . $why, 'icon' => 'fa-lock'];
        }
        else {
          $records[] = ['name' => 'civibackupDestinationInWebRoot', 'level' => 'warning', 'message' => $this->civi->ts('The backup destination %1 is inside the web root %2. Only %3 keeps it from being downloaded, and only web servers that read .htaccess files (Apache) obey it. Choose a destination outside the web root.', [1 => $real, 2 => $realRoot, 3 => $denyFile]) . ' ' . $why, 'icon' => 'fa-lock'];
        }
      }
    }
    clearstatcache(TRUE, $real);
    if (is_dir($real) && (fileperms($real) & 0007) !== 0) {
      $records[] = ['name' => 'civibackupDestinationReadable', 'level' => 'warning', 'message' => $this->civi->ts('The backup destination %1 can be read by every user of this server (mode %2). Run: chmod 700 %1', [1 => $real, 2 => substr(sprintf('%o', fileperms($real)), -4)]), 'icon' => 'fa-lock'];
    }
    return $records;
  }

  /**
   * The .htaccess text without <FilesMatch> blocks and <Files> blocks other than <Files "*">:
   * a denial inside those covers only some files. Standalone's own web-root .htaccess denies
   * `*.sql`, `*.inc`... that way, which does not cover `*.sql.gz`, `*.tar.gz` or `*.age` parts.
   */
  private static function denialsForAllFiles(string $text): string {
    $text = (string) preg_replace('#<FilesMatch\b.*?</FilesMatch\s*>#is', '', $text);
    return (string) preg_replace('#<Files\s+(?!"?\*"?\s*>)[^>]*>.*?</Files\s*>#is', '', $text);
  }

  /**
   * The nearest .htaccess from $dir up to $root that denies all access (as
   * CRM_Utils_File::restrictAccess writes), or NULL.
   */
  public static function findDenyingHtaccess(string $dir, string $root): ?string {
    $dir = rtrim($dir, '/');
    $root = rtrim($root, '/');
    while (TRUE) {
      $file = $dir . '/.htaccess';
      if (is_file($file) && preg_match('/^\s*(Require\s+all\s+denied|Deny\s+from\s+all)\b/mi', self::denialsForAllFiles((string) @file_get_contents($file)))) {
        return $file;
      }
      if ($dir === $root || $dir === '' || $dir === '/' || !CRM_Civibackup_JobBuilder::isInside($dir, $root)) {
        return NULL;
      }
      $dir = dirname($dir);
    }
  }

}
