<?php
declare(strict_types = 1);

/**
 * The settings the page edits, as one record (BackupConfig in ts-src/protocol/api.ts), and
 * their validation. Secrets are write-only: offsite secrets are stored encrypted in
 * civibackup_offsite_secrets and only `hasSecret` flags ever leave the server.
 */
final class CRM_Civibackup_Config {

  public const DEFAULT_DESTINATION = '[civicrm.private]/civibackup/sets';

  public const FREQUENCIES = ['Hourly', 'Daily', 'Weekly', 'Monthly'];

  /**
   * @var CRM_Civibackup_Civi
   */
  private $civi;

  public function __construct(CRM_Civibackup_Civi $civi) {
    $this->civi = $civi;
  }

  /**
   * Names of all settings the extension declares (settings/civibackup.setting.php).
   *
   * @return string[]
   */
  public static function settingNames(): array {
    return [
      'civibackup_include_database',
      'civibackup_include_logging_database',
      'civibackup_include_custom',
      'civibackup_include_images',
      'civibackup_include_templates',
      'civibackup_include_php',
      'civibackup_include_extensions',
      'civibackup_include_code',
      'civibackup_skip_cache_data',
      'civibackup_destination',
      'civibackup_offsite',
      'civibackup_offsite_secrets',
      'civibackup_keep_last',
      'civibackup_keep_daily',
      'civibackup_keep_weekly',
      'civibackup_keep_monthly',
      'civibackup_keep_yearly',
      'civibackup_source_id',
      'civibackup_recipients',
      'civibackup_alert_emails',
      'civibackup_node_path',
      'civibackup_scratch_database',
      'civibackup_staging_database',
      'civibackup_old_database',
      'civibackup_max_age_hours',
      'civibackup_last_run',
    ];
  }

  public static function decodeOffsite(string $json): array {
    $value = json_decode($json === '' ? '[]' : $json, TRUE);
    return is_array($value) ? array_values(array_filter($value, 'is_array')) : [];
  }

  /**
   * Destination name => decrypted secret.
   */
  public static function offsiteSecrets(CRM_Civibackup_Civi $civi): array {
    $stored = (string) $civi->getSetting('civibackup_offsite_secrets');
    if ($stored === '') {
      return [];
    }
    $secrets = json_decode($civi->decryptSecret($stored), TRUE);
    return is_array($secrets) ? $secrets : [];
  }

  /**
   * Backup.getConfig.
   *
   * @param string|null $loggingSeparate
   */
  public function get(bool $loggingSeparate): array {
    $s = function (string $name) {
      return $this->civi->getSetting($name);
    };
    $paths = $this->civi->directories();
    $labels = [
      'custom' => $this->civi->ts('Custom Files'),
      'images' => $this->civi->ts('Images'),
      'templates' => $this->civi->ts('Custom Templates'),
      'php' => $this->civi->ts('Custom PHP'),
      'extensions' => $this->civi->ts('Extensions'),
      'code' => $this->civi->ts('CiviCRM code'),
    ];
    $directories = [];
    foreach (CRM_Civibackup_JobBuilder::DIRECTORIES as $key => $spec) {
      $directories[] = [
        'key' => $key,
        'label' => $labels[$key],
        'path' => $paths[$key] ?? NULL,
        'included' => (bool) $s($spec['setting']),
      ];
    }
    $secrets = self::offsiteSecrets($this->civi);
    $offsite = [];
    foreach (self::decodeOffsite((string) $s('civibackup_offsite')) as $item) {
      $offsite[] = [
        'name' => (string) ($item['name'] ?? ''),
        'type' => (string) ($item['type'] ?? ''),
        'options' => array_map('strval', (array) ($item['options'] ?? [])),
        'hasSecret' => ($secrets[$item['name'] ?? ''] ?? '') !== '',
      ];
    }
    $job = $this->civi->scheduledJob();
    return [
      'includeDatabase' => (bool) $s('civibackup_include_database'),
      'includeLoggingDatabase' => (bool) $s('civibackup_include_logging_database'),
      'loggingDatabaseSeparate' => $loggingSeparate,
      'directories' => $directories,
      'destination' => (string) ($s('civibackup_destination') ?: self::DEFAULT_DESTINATION),
      'retention' => CRM_Civibackup_JobBuilder::retention([
        'civibackup_keep_last' => $s('civibackup_keep_last'),
        'civibackup_keep_daily' => $s('civibackup_keep_daily'),
        'civibackup_keep_weekly' => $s('civibackup_keep_weekly'),
        'civibackup_keep_monthly' => $s('civibackup_keep_monthly'),
        'civibackup_keep_yearly' => $s('civibackup_keep_yearly'),
      ]),
      'sourceId' => trim((string) $s('civibackup_source_id')),
      'recipients' => array_values((array) ($s('civibackup_recipients') ?: [])),
      'skipCacheData' => (bool) $s('civibackup_skip_cache_data'),
      'alertEmails' => array_values((array) ($s('civibackup_alert_emails') ?: [])),
      'maxAgeHours' => (int) $s('civibackup_max_age_hours'),
      'nodePath' => (string) $s('civibackup_node_path'),
      'offsite' => $offsite,
      'schedule' => [
        'frequency' => in_array($job['run_frequency'] ?? '', self::FREQUENCIES, TRUE) ? $job['run_frequency'] : 'Daily',
        'active' => (bool) ($job['is_active'] ?? FALSE),
      ],
    ];
  }

  /**
   * Field path => message for everything wrong with $config (empty = valid).
   */
  public function validate(array $config): array {
    $errors = [];
    $destination = trim((string) ($config['destination'] ?? ''));
    if ($destination === '') {
      $errors['destination'] = $this->civi->ts('Choose a destination directory.');
    }
    elseif ($destination[0] !== '/' && $destination[0] !== '[') {
      $errors['destination'] = $this->civi->ts('Use an absolute path (/...) or a path expression such as [civicrm.private]/civibackup.');
    }
    elseif (strpos($destination, '..') !== FALSE) {
      $errors['destination'] = $this->civi->ts('The path must not contain "..".');
    }
    foreach ((array) ($config['recipients'] ?? []) as $i => $recipient) {
      if (!preg_match(CRM_Civibackup_JobBuilder::RECIPIENT_PATTERN, trim((string) $recipient))) {
        $errors["recipients.$i"] = $this->civi->ts('"%1" is not an age public key (age1...).', [1 => (string) $recipient]);
      }
    }
    foreach ((array) ($config['alertEmails'] ?? []) as $i => $email) {
      if (!filter_var(trim((string) $email), FILTER_VALIDATE_EMAIL)) {
        $errors["alertEmails.$i"] = $this->civi->ts('"%1" is not an e-mail address.', [1 => (string) $email]);
      }
    }
    foreach ((array) ($config['retention'] ?? []) as $key => $n) {
      if (!in_array($key, ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'], TRUE)) {
        $errors["retention.$key"] = $this->civi->ts('Unknown retention rule.');
      }
      elseif (!is_numeric($n) || (int) $n < 0 || (int) $n != $n) {
        $errors["retention.$key"] = $this->civi->ts('Use a whole number, 0 or more.');
      }
    }
    if (array_key_exists('retention', $config) && (int) ($config['retention']['keepLast'] ?? 0) < 1) {
      $errors['retention.keepLast'] = $errors['retention.keepLast'] ?? $this->civi->ts('Keep at least the last set.');
    }
    $sourceId = trim((string) ($config['sourceId'] ?? ''));
    if ($sourceId !== '' && !preg_match(CRM_Civibackup_JobBuilder::SOURCE_ID_PATTERN, $sourceId)) {
      $errors['sourceId'] = $this->civi->ts('Use letters, digits, ".", "_" or "-" (at most 64, starting with a letter or digit; no spaces), or leave it empty.');
    }
    if (isset($config['maxAgeHours']) && (!is_numeric($config['maxAgeHours']) || (int) $config['maxAgeHours'] < 1)) {
      $errors['maxAgeHours'] = $this->civi->ts('Use a number of hours, 1 or more.');
    }
    $nodePath = trim((string) ($config['nodePath'] ?? ''));
    if ($nodePath !== '' && (strpos($nodePath, '/') !== 0 || !is_file($nodePath) || !is_executable($nodePath))) {
      $errors['nodePath'] = $this->civi->ts('No executable file at %1. Leave empty to use node from the PATH.', [1 => $nodePath]);
    }
    $names = [];
    $storedSecrets = self::offsiteSecrets($this->civi);
    foreach ((array) ($config['offsite'] ?? []) as $i => $item) {
      $name = trim((string) ($item['name'] ?? ''));
      if (!preg_match('/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/D', $name)) {
        $errors["offsite.$i.name"] = $this->civi->ts('Give the destination a short name (letters, digits, space, . _ -).');
      }
      elseif (isset($names[$name])) {
        $errors["offsite.$i.name"] = $this->civi->ts('Two destinations are named "%1".', [1 => $name]);
      }
      $names[$name] = TRUE;
      $options = (array) ($item['options'] ?? []);
      $type = $item['type'] ?? '';
      if ($type === 's3') {
        foreach (['bucket', 'accessKeyId'] as $required) {
          if (trim((string) ($options[$required] ?? '')) === '') {
            $errors["offsite.$i.options.$required"] = $this->civi->ts('Required.');
          }
        }
        if (($options['endpoint'] ?? '') !== '' && !preg_match('#^https?://#', (string) $options['endpoint'])) {
          $errors["offsite.$i.options.endpoint"] = $this->civi->ts('Use an http:// or https:// URL.');
        }
      }
      elseif ($type === 'sftp') {
        foreach (['host', 'username', 'path'] as $required) {
          if (trim((string) ($options[$required] ?? '')) === '') {
            $errors["offsite.$i.options.$required"] = $this->civi->ts('Required.');
          }
        }
        if (($options['port'] ?? '') !== '' && (!ctype_digit((string) $options['port']) || (int) $options['port'] > 65535)) {
          $errors["offsite.$i.options.port"] = $this->civi->ts('Use a port number.');
        }
      }
      else {
        $errors["offsite.$i.type"] = $this->civi->ts('Choose S3 or SFTP.');
      }
      if (($item['secret'] ?? '') === '' && ($storedSecrets[$name] ?? '') === '') {
        $errors["offsite.$i.secret"] = $this->civi->ts('Enter the secret (it is stored encrypted and never shown again).');
      }
    }
    if (isset($config['schedule']['frequency']) && !in_array($config['schedule']['frequency'], self::FREQUENCIES, TRUE)) {
      $errors['schedule.frequency'] = $this->civi->ts('Choose Hourly, Daily, Weekly or Monthly.');
    }
    return $errors;
  }

  /**
   * Backup.saveConfig: validates everything, then writes. Fields left out stay unchanged.
   *
   * @param callable|null $downloadableError
   *   fn(string $path): ?CRM_Civibackup_Error, asked for a changed destination (resolved):
   *   an error refuses it (DestinationSafety::downloadableErrorFor, the download probe).
   * @return array
   *   Field path => message; empty when saved.
   */
  public function save(array $config, ?callable $downloadableError = NULL): array {
    $errors = $this->validate($config + ['destination' => $this->civi->getSetting('civibackup_destination') ?: self::DEFAULT_DESTINATION]);
    if ($errors) {
      return $errors;
    }
    $newDestination = array_key_exists('destination', $config) ? rtrim(trim((string) $config['destination']), '/') : NULL;
    if ($downloadableError !== NULL && $newDestination !== NULL && $newDestination !== rtrim(trim((string) ($this->civi->getSetting('civibackup_destination') ?: self::DEFAULT_DESTINATION)), '/')) {
      $error = $downloadableError($this->civi->resolvePath($newDestination));
      if ($error !== NULL) {
        return ['destination' => trim($error->getMessage() . ' ' . $error->getHint())];
      }
    }
    $set = function (string $key, string $setting, callable $convert) use ($config): void {
      if (array_key_exists($key, $config)) {
        $this->civi->setSetting($setting, $convert($config[$key]));
      }
    };
    $set('includeDatabase', 'civibackup_include_database', 'boolval');
    $set('includeLoggingDatabase', 'civibackup_include_logging_database', 'boolval');
    $set('skipCacheData', 'civibackup_skip_cache_data', 'boolval');
    $set('destination', 'civibackup_destination', function ($v) {
      return rtrim(trim((string) $v), '/');
    });
    $set('recipients', 'civibackup_recipients', function ($v) {
      return array_values(array_unique(array_map('trim', (array) $v)));
    });
    $set('alertEmails', 'civibackup_alert_emails', function ($v) {
      return array_values(array_unique(array_map('trim', (array) $v)));
    });
    $set('sourceId', 'civibackup_source_id', function ($v) {
      return trim((string) $v);
    });
    $set('maxAgeHours', 'civibackup_max_age_hours', 'intval');
    $set('nodePath', 'civibackup_node_path', function ($v) {
      return trim((string) $v);
    });
    if (array_key_exists('directories', $config)) {
      foreach ((array) $config['directories'] as $dir) {
        $spec = CRM_Civibackup_JobBuilder::DIRECTORIES[$dir['key'] ?? ''] ?? NULL;
        if ($spec !== NULL) {
          $this->civi->setSetting($spec['setting'], (bool) ($dir['included'] ?? FALSE));
        }
      }
    }
    if (array_key_exists('retention', $config)) {
      foreach (['keepLast' => 'civibackup_keep_last', 'keepDaily' => 'civibackup_keep_daily', 'keepWeekly' => 'civibackup_keep_weekly', 'keepMonthly' => 'civibackup_keep_monthly', 'keepYearly' => 'civibackup_keep_yearly'] as $key => $setting) {
        $this->civi->setSetting($setting, (int) ($config['retention'][$key] ?? 0));
      }
    }
    if (array_key_exists('offsite', $config)) {
      $old = self::offsiteSecrets($this->civi);
      $list = [];
      $secrets = [];
      foreach ((array) $config['offsite'] as $item) {
        $name = trim((string) $item['name']);
        $list[] = ['name' => $name, 'type' => $item['type'], 'options' => array_map('strval', (array) ($item['options'] ?? []))];
        $secrets[$name] = ($item['secret'] ?? '') !== '' ? (string) $item['secret'] : ($old[$name] ?? '');
      }
      $this->civi->setSetting('civibackup_offsite', json_encode($list, JSON_UNESCAPED_SLASHES));
      // Secrets of removed destinations are dropped with them.
      $this->civi->setSetting('civibackup_offsite_secrets', $secrets ? $this->civi->encryptSecret(json_encode($secrets, JSON_UNESCAPED_SLASHES)) : '');
    }
    if (isset($config['schedule']) && is_array($config['schedule']) && $this->civi->scheduledJob() !== NULL) {
      $values = [];
      if (isset($config['schedule']['frequency'])) {
        $values['run_frequency'] = $config['schedule']['frequency'];
      }
      if (isset($config['schedule']['active'])) {
        $values['is_active'] = (bool) $config['schedule']['active'];
      }
      if ($values) {
        $this->civi->updateScheduledJob($values);
      }
    }
    return [];
  }

}
