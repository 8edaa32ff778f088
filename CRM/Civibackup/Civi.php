<?php
declare(strict_types = 1);

/**
 * The one seam between CiviBackup's service classes and CiviCRM. Everything the services
 * need from CiviCRM goes through it: settings, the Directories paths, the DSNs, mail, status
 * messages, permissions, credential encryption and the scheduled job record.
 *
 * CRM_Civibackup_CiviRuntime is the real implementation. Tests use
 * tests/phpunit/Fake/FakeCiviSeam.php, a stand-in, because CiviCRM cannot run in CI.
 */
interface CRM_Civibackup_Civi {

  /**
   * @return mixed
   */
  public function getSetting(string $name);

  /**
   * @param mixed $value
   */
  public function setSetting(string $name, $value): void;

  public function revertSetting(string $name): void;

  /**
   * Uninstall: reverts the settings and deletes their rows (revert alone leaves NULL rows).
   *
   * @param string[] $names
   */
  public function removeSettings(array $names): void;

  /**
   * The Directories settings resolved to absolute paths (trailing slash), NULL when not set.
   *
   * @return array
   *   ['custom' => ?string, 'images' => ?string, 'templates' => ?string, 'php' => ?string, 'extensions' => ?string, 'code' => ?string]
   *   where 'code' is CiviCRM's code root as the site resolves it ([civicrm.root]), or on
   *   WordPress the plugin folder that holds it.
   */
  public function directories(): array;

  /**
   * Civi::paths()->getPath(): '[civicrm.private]/civibackup' => '/var/www/.../private/civibackup'.
   */
  public function resolvePath(string $expression): string;

  /**
   * The web server's document root as far as CiviCRM knows it ([cms.root]), or NULL.
   */
  public function webRoot(): ?string;

  /**
   * The absolute URL that maps to webRoot() (the site's base URL), or NULL.
   */
  public function webRootUrl(): ?string;

  public function dsn(): string;

  /**
   * CIVICRM_LOGGING_DSN when defined (it may equal the main DSN).
   */
  public function loggingDsn(): ?string;

  public function civicrmVersion(): string;

  /**
   * A short name of this site for manifests and e-mails (domain name or base URL).
   */
  public function siteName(): string;

  /**
   * Sends a plain-text e-mail through CiviCRM's mailer.
   *
   * @param string[] $to
   */
  public function sendMail(array $to, string $subject, string $text): bool;

  /**
   * A CRM_Utils_Check_Message (a stand-in object in tests).
   *
   * @param string $level
   *   A Psr\Log\LogLevel value: info, notice, warning, error, critical.
   * @return object
   */
  public function checkMessage(string $name, string $message, string $title, string $level, string $icon);

  public function hasPermission(string $permission): bool;

  /**
   * Encrypts a secret for storage in a setting (CiviCRM's crypto.token with the CRED key
   * when available).
   */
  public function encryptSecret(string $plain): string;

  public function decryptSecret(string $stored): string;

  public function ts(string $text, array $params = []): string;

  /**
   * The managed scheduled job (Job civibackup_run): is_active, run_frequency, last_run,
   * scheduled_run_date; NULL when it does not exist.
   */
  public function scheduledJob(): ?array;

  public function updateScheduledJob(array $values): void;

  /**
   * After a database restore: rebuild triggers and clear caches (System.flush triggers=1).
   */
  public function flushAfterRestore(): void;

}
