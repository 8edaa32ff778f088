<?php
declare(strict_types = 1);

/**
 * Settings + paths resolved by CiviCRM -> the BackupJob the helper reads (ts-src/protocol/job.ts).
 *
 * The job holds no secret. Every secret (the DSNs, offsite keys) travels in an environment
 * variable whose NAME the job gives; secrets() returns those variables for the launcher.
 * Pure: no CiviCRM, no file system.
 */
final class CRM_Civibackup_JobBuilder {

  public const JOB_VERSION = 1;

  public const ENV_DSN = 'CIVIBACKUP_DSN';
  public const ENV_LOGGING_DSN = 'CIVIBACKUP_LOGGING_DSN';
  public const ENV_SCRATCH_DSN = 'CIVIBACKUP_SCRATCH_DSN';
  public const ENV_PASSPHRASE = 'CIVIBACKUP_PASSPHRASE';
  public const ENV_IDENTITY = 'CIVIBACKUP_IDENTITY';

  public const LABEL_PATTERN = '/^[a-z0-9][a-z0-9_-]{0,63}$/D';
  public const RECIPIENT_PATTERN = '/^age1[0-9a-z]{58}$/D';

  /**
   * The job's `sourceId` (SOURCE_ID_PATTERN in ts-src/protocol/manifest.ts; JobBuilderTest
   * checks they are the same expression). D: `$` must not match before a trailing newline.
   */
  public const SOURCE_ID_PATTERN = '/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/D';

  /**
   * Directory key => [label in the set, setting that includes it, optional?]. Custom Files
   * and Images always exist on a working site; the other three are often unset or absent.
   */
  public const DIRECTORIES = [
    'custom' => ['label' => 'custom', 'setting' => 'civibackup_include_custom', 'optional' => FALSE],
    'images' => ['label' => 'images', 'setting' => 'civibackup_include_images', 'optional' => FALSE],
    'templates' => ['label' => 'templates', 'setting' => 'civibackup_include_templates', 'optional' => TRUE],
    'php' => ['label' => 'php', 'setting' => 'civibackup_include_php', 'optional' => TRUE],
    'extensions' => ['label' => 'extensions', 'setting' => 'civibackup_include_extensions', 'optional' => TRUE],
    // CiviCRM's own code (core, packages, vendor; on WordPress the whole plugin folder): the
    // backup guide asks for a copy when core files were modified. Deduplicated sets store it
    // once; settings files and caches are left out as everywhere.
    'code' => ['label' => 'code', 'setting' => 'civibackup_include_code', 'optional' => TRUE],
  ];

  /**
   * @param array $settings
   *   civibackup_* setting values.
   * @param array $context
   *   - destination: string, absolute local destination directory (resolved)
   *   - directories: array key => ?string absolute path (CiviCRM's Directories settings)
   *   - loggingSeparate: bool, CIVICRM_LOGGING_DSN names another database
   *   - offsite: array, the decoded civibackup_offsite list
   *   - trigger, civicrmVersion, site: strings for the manifest
   *   - stateDir: string, absolute directory where the helper keeps its state between runs
   */
  public function build(array $settings, array $context): array {
    $destination = (string) ($context['destination'] ?? '');
    if ($destination === '' || $destination[0] !== '/') {
      throw new CRM_Civibackup_Error('CONFIG', 'The backup destination must be an absolute directory path.', 'Set the destination directory in the Backups settings.');
    }
    $destination = rtrim($destination, '/');
    $job = [
      'version' => self::JOB_VERSION,
      'command' => 'backup',
      'to' => $destination,
    ];

    if (!empty($settings['civibackup_include_database'])) {
      $job['database'] = [
        'dsnEnv' => self::ENV_DSN,
        'skipCacheData' => (bool) ($settings['civibackup_skip_cache_data'] ?? TRUE),
      ];
      if (!empty($settings['civibackup_include_logging_database']) && !empty($context['loggingSeparate'])) {
        $job['loggingDatabase'] = ['dsnEnv' => self::ENV_LOGGING_DSN];
      }
    }

    $files = [];
    $exclude = [];
    foreach (self::DIRECTORIES as $key => $spec) {
      $path = $context['directories'][$key] ?? NULL;
      if (empty($settings[$spec['setting']]) || $path === NULL || trim((string) $path) === '') {
        continue;
      }
      $path = rtrim((string) $path, '/');
      if ($path === '' || $path[0] !== '/') {
        throw new CRM_Civibackup_Error('CONFIG', "The $key directory \"$path\" is not an absolute path.", 'Check Administer » System Settings » Directories.');
      }
      if (self::isInside($path, $destination)) {
        throw new CRM_Civibackup_Error('CONFIG', "The destination $destination is the $key directory or contains it.", 'Choose a destination outside the directories being backed up.');
      }
      if (self::isInside($destination, $path)) {
        // Never archive earlier backups into the new one.
        $exclude[] = substr($destination, strlen($path)) . '/';
      }
      $files[] = ['label' => $spec['label'], 'path' => $path] + ($spec['optional'] ? ['optional' => TRUE] : []);
    }
    if ($files) {
      $job['files'] = $files;
    }
    if ($exclude) {
      $job['exclude'] = array_values(array_unique($exclude));
    }
    if (!isset($job['database']) && !$files) {
      throw new CRM_Civibackup_Error('CONFIG', 'Nothing is selected for backup.', 'Include the database or at least one directory in the Backups settings.');
    }

    $recipients = self::recipients($settings['civibackup_recipients'] ?? []);
    if ($recipients) {
      $job['encryption'] = ['recipients' => $recipients];
    }

    $offsite = $this->offsiteSpecs($context['offsite'] ?? []);
    if ($offsite) {
      $job['offsite'] = $offsite;
    }

    $retention = self::retention($settings);
    if ($retention) {
      $job['retention'] = $retention;
    }

    // Names this site's sets for retention at a destination other sites or copies share.
    $sourceId = trim((string) ($settings['civibackup_source_id'] ?? ''));
    if ($sourceId !== '') {
      if (!preg_match(self::SOURCE_ID_PATTERN, $sourceId)) {
        throw new CRM_Civibackup_Error('CONFIG', "The source name \"$sourceId\" may only hold letters, digits, \".\", \"_\" and \"-\" (at most 64, no spaces).", 'Correct or empty the source name in the Backups settings (Retention).');
      }
      $job['sourceId'] = $sourceId;
    }

    foreach (['trigger', 'civicrmVersion', 'site'] as $key) {
      if (isset($context[$key]) && $context[$key] !== '') {
        $job[$key] = (string) $context[$key];
      }
    }
    // The helper's state between runs (id key cache, tree caches that spare reading unchanged files).
    $stateDir = rtrim((string) ($context['stateDir'] ?? ''), '/');
    if ($stateDir !== '' && $stateDir[0] === '/') {
      $job['stateDir'] = $stateDir;
    }
    return $job;
  }

  /**
   * The environment variables the job names: name => secret value.
   *
   * @param array $offsiteSecrets
   *   Destination name => secret (decrypted).
   */
  public function secrets(array $job, string $dsn, ?string $loggingDsn, array $offsiteSecrets = []): array {
    $env = [];
    if (isset($job['database'])) {
      if ($dsn === '') {
        throw new CRM_Civibackup_Error('CONFIG', 'CiviCRM\'s database DSN is not known.', 'Check CIVICRM_DSN in civicrm.settings.php.');
      }
      $env[self::ENV_DSN] = $dsn;
    }
    if (isset($job['loggingDatabase']) && $loggingDsn !== NULL) {
      $env[self::ENV_LOGGING_DSN] = $loggingDsn;
    }
    foreach ($job['offsite'] ?? [] as $destination) {
      $name = $destination['secretEnv'] ?? $destination['privateKeyEnv'] ?? NULL;
      if ($name === NULL) {
        continue;
      }
      $secret = (string) ($offsiteSecrets[$destination['name']] ?? '');
      if ($secret === '') {
        throw new CRM_Civibackup_Error('CONFIG', "The offsite destination \"{$destination['name']}\" has no stored secret.", 'Enter its secret key again in the Backups settings.');
      }
      $env[$name] = $secret;
    }
    return $env;
  }

  /**
   * Offsite settings (name, type, options) -> DestinationSpec list with env var names.
   */
  public function offsiteSpecs(array $offsite): array {
    $specs = [];
    foreach (array_values($offsite) as $index => $item) {
      $name = (string) ($item['name'] ?? '');
      $options = (array) ($item['options'] ?? []);
      $env = self::offsiteSecretEnv($index);
      switch ($item['type'] ?? '') {
        case 's3':
          $spec = [
            'type' => 's3',
            'name' => $name,
            'region' => (string) ($options['region'] ?? 'us-east-1'),
            'bucket' => (string) ($options['bucket'] ?? ''),
            'accessKeyId' => (string) ($options['accessKeyId'] ?? ''),
            'secretEnv' => $env,
          ];
          foreach (['endpoint', 'prefix'] as $key) {
            if (($options[$key] ?? '') !== '') {
              $spec[$key] = (string) $options[$key];
            }
          }
          if (isset($options['forcePathStyle']) && $options['forcePathStyle'] !== '') {
            $spec['forcePathStyle'] = filter_var($options['forcePathStyle'], FILTER_VALIDATE_BOOLEAN);
          }
          break;

        case 'sftp':
          $spec = [
            'type' => 'sftp',
            'name' => $name,
            'host' => (string) ($options['host'] ?? ''),
            'username' => (string) ($options['username'] ?? ''),
            'path' => (string) ($options['path'] ?? ''),
            'privateKeyEnv' => $env,
          ];
          if (($options['port'] ?? '') !== '') {
            $spec['port'] = (int) $options['port'];
          }
          if (($options['hostKey'] ?? '') !== '') {
            $spec['hostKey'] = (string) $options['hostKey'];
          }
          break;

        default:
          throw new CRM_Civibackup_Error('CONFIG', "Offsite destination \"$name\" has an unknown type.", 'Use s3 or sftp.');
      }
      $specs[] = $spec;
    }
    return $specs;
  }

  public static function offsiteSecretEnv(int $index): string {
    return 'CIVIBACKUP_OFFSITE_' . ($index + 1) . '_SECRET';
  }

  /**
   * @param mixed $value
   *   A list, or text with one recipient per line.
   * @return string[]
   */
  public static function recipients($value): array {
    if (is_string($value)) {
      $value = preg_split('/[\s,]+/', $value) ?: [];
    }
    $recipients = [];
    foreach ((array) $value as $recipient) {
      $recipient = trim((string) $recipient);
      if ($recipient === '') {
        continue;
      }
      if (!preg_match(self::RECIPIENT_PATTERN, $recipient)) {
        throw new CRM_Civibackup_Error('CONFIG', "\"$recipient\" is not an age X25519 recipient (age1...).", 'Paste the public key that `civibackup keygen` or the Backups page printed.');
      }
      $recipients[] = $recipient;
    }
    return array_values(array_unique($recipients));
  }

  /**
   * keep_* settings -> RetentionPolicy; empty when every rule is 0 (keep everything).
   */
  public static function retention(array $settings): array {
    $policy = [];
    foreach (['keepLast' => 'civibackup_keep_last', 'keepDaily' => 'civibackup_keep_daily', 'keepWeekly' => 'civibackup_keep_weekly', 'keepMonthly' => 'civibackup_keep_monthly', 'keepYearly' => 'civibackup_keep_yearly'] as $key => $setting) {
      $n = (int) ($settings[$setting] ?? 0);
      if ($n > 0) {
        $policy[$key] = $n;
      }
    }
    return $policy;
  }

  /**
   * True when $path is $dir or below it (plain path comparison; both absolute).
   */
  public static function isInside(string $path, string $dir): bool {
    $path = rtrim($path, '/');
    $dir = rtrim($dir, '/');
    return $path === $dir || strpos($path . '/', $dir . '/') === 0;
  }

}
