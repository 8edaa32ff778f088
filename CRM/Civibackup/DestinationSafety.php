<?php
declare(strict_types = 1);

/**
 * Keeping backup sets (and run logs) away from the web: the directories CiviBackup writes get
 * a deny-all .htaccess and mode 0700 when it creates them, and System Status says when the
 * destination lies inside the web root or is readable by every user of the server.
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
   * @var CRM_Civibackup_Civi
   */
  private $civi;

  public function __construct(CRM_Civibackup_Civi $civi) {
    $this->civi = $civi;
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
   * its own upload directories (CRM_Utils_File::restrictAccess). The status check still
   * warns about a destination there, since only Apache reads it.
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
   * The status checks about the destination: inside the web root (critical when nothing
   * denies web access, a warning when only an .htaccess does) and readable by every user.
   *
   * @return array[]
   *   Each: name, level, message, icon.
   */
  public function checks(string $destination): array {
    $records = [];
    $webRoot = $this->civi->webRoot();
    $real = realpath($destination) ?: $destination;
    $realRoot = $webRoot !== NULL ? (realpath($webRoot) ?: $webRoot) : NULL;
    if ($realRoot !== NULL && CRM_Civibackup_JobBuilder::isInside($real, $realRoot)) {
      $denyFile = self::findDenyingHtaccess($real, $realRoot);
      if ($denyFile === NULL) {
        $records[] = ['name' => 'civibackupDestinationInWebRoot', 'level' => 'critical', 'message' => $this->civi->ts('The backup destination %1 is inside the web root %2 and nothing denies web access to it: anyone who guesses a file name may download your whole database. Choose a destination outside the web root.', [1 => $real, 2 => $realRoot]), 'icon' => 'fa-lock'];
      }
      else {
        $records[] = ['name' => 'civibackupDestinationInWebRoot', 'level' => 'warning', 'message' => $this->civi->ts('The backup destination %1 is inside the web root %2. Only %3 keeps it from being downloaded, and only web servers that read .htaccess files (Apache) obey it. Choose a destination outside the web root.', [1 => $real, 2 => $realRoot, 3 => $denyFile]), 'icon' => 'fa-lock'];
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
