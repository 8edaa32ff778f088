<?php
declare(strict_types = 1);

/**
 * STAND-IN FOR CIVICRM. CiviCRM cannot run in CI, so the tests give the service classes
 * this implementation of the seam (CRM_Civibackup_Civi) instead of CRM_Civibackup_CiviRuntime.
 * It keeps settings in an array (defaults read from the real settings/civibackup.setting.php),
 * resolves [civicrm.private] and friends to temporary directories, records e-mails instead
 * of sending them, and returns plain arrays where CiviCRM would build CRM_Utils_Check_Message.
 * Nothing here says how CiviCRM behaves; real behaviour is checked on the QA site.
 */

// Stand-in for CiviCRM's global ts(): %1-style substitution only, no translation.
if (!function_exists('ts')) {

  function ts($text, $params = []) {
    foreach ($params as $key => $value) {
      if (is_int($key)) {
        $text = str_replace('%' . $key, (string) $value, $text);
      }
    }
    return $text;
  }

}

require_once dirname(__DIR__, 3) . '/civibackup.civix.php';

final class FakeCiviSeam implements CRM_Civibackup_Civi {

  /**
   * @var array
   */
  public $settings = [];

  /**
   * @var array
   */
  /**
   * @var string
   */
  public $civicrmVersion = '6.17.0';

  public $directories = ['custom' => NULL, 'images' => NULL, 'templates' => NULL, 'php' => NULL, 'extensions' => NULL, 'code' => NULL];

  /**
   * @var array
   *   '[civicrm.private]' => '/tmp/...'
   */
  public $pathVariables = [];

  /**
   * @var string|null
   */
  public $webRoot = NULL;

  /**
   * @var string|null
   */
  public $webRootUrl = NULL;

  /**
   * @var string
   */
  public $dsn = 'mysql://civi:secret@127.0.0.1:3306/civicrm?new_link=true';

  /**
   * @var string|null
   */
  public $loggingDsn = NULL;

  /**
   * @var array[]
   *   Mails "sent": ['to' => [...], 'subject' => ..., 'text' => ...].
   */
  public $mails = [];

  /**
   * @var string[]
   */
  public $permissions = [];

  /**
   * @var array|null
   */
  public $job = ['is_active' => TRUE, 'run_frequency' => 'Daily', 'last_run' => NULL, 'scheduled_run_date' => NULL];

  /**
   * @var int
   */
  public $flushes = 0;

  public function __construct(string $privateDir) {
    $this->pathVariables = ['[civicrm.private]' => rtrim($privateDir, '/')];
    foreach (self::settingDefinitions() as $name => $definition) {
      $this->settings[$name] = $definition['default'];
    }
  }

  public static function settingDefinitions(): array {
    return include dirname(__DIR__, 3) . '/settings/civibackup.setting.php';
  }

  public function getSetting(string $name) {
    if (!array_key_exists($name, $this->settings)) {
      throw new InvalidArgumentException("Unknown setting $name (not in settings/civibackup.setting.php)");
    }
    return $this->settings[$name];
  }

  public function setSetting(string $name, $value): void {
    $this->getSetting($name);
    $this->settings[$name] = $value;
  }

  public function revertSetting(string $name): void {
    $this->settings[$name] = self::settingDefinitions()[$name]['default'];
  }

  public function removeSettings(array $names): void {
    foreach ($names as $name) {
      unset($this->settings[$name]);
    }
  }

  public function directories(): array {
    return $this->directories;
  }

  public function resolvePath(string $expression): string {
    return strtr($expression, $this->pathVariables);
  }

  public function webRoot(): ?string {
    return $this->webRoot;
  }

  public function webRootUrl(): ?string {
    return $this->webRootUrl;
  }

  public function dsn(): string {
    return $this->dsn;
  }

  public function loggingDsn(): ?string {
    return $this->loggingDsn;
  }

  public function civicrmVersion(): string {
    return $this->civicrmVersion;
  }

  public function siteName(): string {
    return 'Test Site';
  }

  public function sendMail(array $to, string $subject, string $text): bool {
    $this->mails[] = ['to' => $to, 'subject' => $subject, 'text' => $text];
    return TRUE;
  }

  public function checkMessage(string $name, string $message, string $title, string $level, string $icon) {
    return (object) compact('name', 'message', 'title', 'level', 'icon');
  }

  public function hasPermission(string $permission): bool {
    return in_array($permission, $this->permissions, TRUE);
  }

  public function encryptSecret(string $plain): string {
    // Stand-in: reversible marking only, so tests can tell stored from plain text.
    return 'FAKE-ENCRYPTED:' . base64_encode($plain);
  }

  public function decryptSecret(string $stored): string {
    return strpos($stored, 'FAKE-ENCRYPTED:') === 0 ? (string) base64_decode(substr($stored, 15)) : $stored;
  }

  public function ts(string $text, array $params = []): string {
    return ts($text, $params);
  }

  public function scheduledJob(): ?array {
    return $this->job;
  }

  public function updateScheduledJob(array $values): void {
    $this->job = array_merge((array) $this->job, $values);
  }

  public function flushAfterRestore(): void {
    $this->flushes++;
  }

}
