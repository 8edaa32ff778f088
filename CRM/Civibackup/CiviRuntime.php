<?php
declare(strict_types = 1);

/**
 * The real CiviCRM side of the seam (CRM_Civibackup_Civi). Only this class, the hooks, the
 * page and the API classes call CiviCRM directly.
 */
final class CRM_Civibackup_CiviRuntime implements CRM_Civibackup_Civi {

  public function getSetting(string $name) {
    return \Civi::settings()->get($name);
  }

  public function setSetting(string $name, $value): void {
    \Civi::settings()->set($name, $value);
  }

  public function revertSetting(string $name): void {
    \Civi::settings()->revert($name);
    // SettingsBag::revert() stores a NULL row rather than deleting it (see its comment in
    // Civi/Core/SettingsBag.php), so an uninstall would leave every civibackup_* row behind.
    // A missing row and a NULL row mean the same (the default), so delete it.
    \CRM_Core_DAO::executeQuery(
      'DELETE FROM civicrm_setting WHERE name = %1 AND domain_id = %2 AND contact_id IS NULL',
      [1 => [$name, 'String'], 2 => [\CRM_Core_Config::domainID(), 'Positive']]
    );
  }

  public function removeSettings(array $names): void {
    if (!$names) {
      return;
    }
    foreach ($names as $name) {
      \Civi::settings()->revert($name);
    }
    // SettingsBag::revert() stores NULL rather than deleting; uninstall leaves no row behind.
    $placeholders = [];
    $params = [];
    foreach (array_values($names) as $i => $name) {
      $placeholders[] = '%' . ($i + 1);
      $params[$i + 1] = [$name, 'String'];
    }
    \CRM_Core_DAO::executeQuery('DELETE FROM civicrm_setting WHERE name IN (' . implode(', ', $placeholders) . ')', $params);
    \Civi::service('settings_manager')->flush();
  }

  public function directories(): array {
    // MagicMerge resolves each through Civi::paths() and returns it with a trailing slash.
    $config = \CRM_Core_Config::singleton();
    $read = static function (string $property) use ($config): ?string {
      $value = $config->{$property};
      return is_string($value) && trim($value) !== '' ? $value : NULL;
    };
    return [
      'custom' => $read('customFileUploadDir'),
      'images' => $read('imageUploadDir'),
      'templates' => $read('customTemplateDir'),
      'php' => $read('customPHPPathDir'),
      'extensions' => $read('extensionsDir'),
      'code' => $this->codeRoot(),
    ];
  }

  /**
   * CiviCRM's code: [civicrm.root]; on WordPress the plugin folder around it (civicrm.php,
   * the civicrm/ core folder), so a restored copy is the plugin as installed.
   */
  private function codeRoot(): ?string {
    try {
      $root = rtrim(preg_replace('#/\.$#', '', (string) \Civi::paths()->getPath('[civicrm.root]/.')), '/');
    }
    catch (\Throwable $e) {
      return NULL;
    }
    if ($root === '' || !is_dir($root)) {
      return NULL;
    }
    $parent = dirname($root);
    if (defined('CIVICRM_UF') && CIVICRM_UF === 'WordPress' && is_file($parent . '/civicrm.php')) {
      $root = $parent;
    }
    return $root . '/';
  }

  public function resolvePath(string $expression): string {
    return (string) \Civi::paths()->getPath($expression);
  }

  public function webRoot(): ?string {
    return $this->webRootAndUrl()[0];
  }

  public function webRootUrl(): ?string {
    return $this->webRootAndUrl()[1];
  }

  /**
   * [cms.root] and its URL; in a web request, the server's document root instead when it
   * lies above [cms.root] (CRM_Civibackup_DownloadProbe::outermostWebRoot).
   *
   * @return array
   *   [?root, ?url]
   */
  private function webRootAndUrl(): array {
    try {
      $root = rtrim(preg_replace('#/\.$#', '', (string) \Civi::paths()->getPath('[cms.root]/.')), '/');
      $url = rtrim((string) \Civi::paths()->getUrl('[cms.root]/.', 'absolute'), '/');
    }
    catch (\Throwable $e) {
      return [NULL, NULL];
    }
    if ($root === '') {
      return [NULL, NULL];
    }
    $url = preg_match('#^https?://#i', $url) ? $url : NULL;
    $documentRoot = PHP_SAPI !== 'cli' ? ($_SERVER['DOCUMENT_ROOT'] ?? NULL) : NULL;
    return CRM_Civibackup_DownloadProbe::outermostWebRoot($root, $url, is_string($documentRoot) ? $documentRoot : NULL);
  }

  public function dsn(): string {
    $dsn = \CRM_Core_Config::singleton()->dsn ?? NULL;
    if (is_string($dsn) && $dsn !== '') {
      return $dsn;
    }
    return defined('CIVICRM_DSN') ? (string) CIVICRM_DSN : '';
  }

  public function loggingDsn(): ?string {
    return defined('CIVICRM_LOGGING_DSN') ? (string) CIVICRM_LOGGING_DSN : NULL;
  }

  public function civicrmVersion(): string {
    return (string) \CRM_Utils_System::version();
  }

  public function siteName(): string {
    try {
      $name = (string) (\CRM_Core_BAO_Domain::getDomain()->name ?? '');
    }
    catch (\Throwable $e) {
      $name = '';
    }
    if ($name === '' && defined('CIVICRM_UF_BASEURL')) {
      $name = (string) CIVICRM_UF_BASEURL;
    }
    return $name;
  }

  public function sendMail(array $to, string $subject, string $text): bool {
    [$fromName, $fromEmail] = \CRM_Core_BAO_Domain::getNameAndEmail();
    $sent = TRUE;
    foreach ($to as $address) {
      // CRM_Utils_Mail::send() takes its params by reference: an array literal is a fatal Error.
      $params = [
        'from' => "\"$fromName\" <$fromEmail>",
        'toName' => $address,
        'toEmail' => $address,
        'subject' => $subject,
        'text' => $text,
      ];
      $sent = \CRM_Utils_Mail::send($params) && $sent;
    }
    return $sent;
  }

  public function checkMessage(string $name, string $message, string $title, string $level, string $icon) {
    return new \CRM_Utils_Check_Message($name, $message, $title, $level, $icon);
  }

  public function hasPermission(string $permission): bool {
    return \CRM_Core_Permission::check($permission);
  }

  public function encryptSecret(string $plain): string {
    // CiviCRM's credential encryption (as for the SMTP password). Without CIVICRM_CRED_KEYS
    // the CRED tag falls back to plain text, which the status page already reports.
    if (\Civi::container()->has('crypto.token')) {
      return \Civi::service('crypto.token')->encrypt($plain, 'CRED');
    }
    return $plain;
  }

  public function decryptSecret(string $stored): string {
    if ($stored !== '' && \Civi::container()->has('crypto.token')) {
      return (string) \Civi::service('crypto.token')->decrypt($stored);
    }
    return $stored;
  }

  public function ts(string $text, array $params = []): string {
    return CRM_Civibackup_ExtensionUtil::ts($text, $params);
  }

  public function scheduledJob(): ?array {
    return \Civi\Api4\Job::get(FALSE)
      ->addWhere('api_entity', '=', 'Job')
      ->addWhere('api_action', '=', 'civibackup_run')
      ->execute()
      ->first();
  }

  public function updateScheduledJob(array $values): void {
    \Civi\Api4\Job::update(FALSE)
      ->addWhere('api_entity', '=', 'Job')
      ->addWhere('api_action', '=', 'civibackup_run')
      ->setValues($values)
      ->execute();
  }

  public function flushAfterRestore(): void {
    // As CiviCRM documents for a restored database: rebuild triggers (and the
    // civicrm_strip_non_numeric function) and clear caches.
    civicrm_api3('System', 'flush', ['triggers' => 1, 'session' => 0]);
  }

}
