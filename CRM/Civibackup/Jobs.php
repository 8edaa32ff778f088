<?php
declare(strict_types = 1);

/**
 * The job files PHP hands the helper (ts-src/protocol/job.ts), built from this site's
 * settings, each with the environment that carries its secrets. A job file never holds a
 * secret.
 */
final class CRM_Civibackup_Jobs {

  /**
   * @var CRM_Civibackup_Civi
   */
  private $civi;

  /**
   * @var CRM_Civibackup_Site
   */
  private $site;

  public function __construct(CRM_Civibackup_Civi $civi, CRM_Civibackup_Site $site) {
    $this->civi = $civi;
    $this->site = $site;
  }

  /**
   * The job for a backup now, and the environment carrying its secrets.
   *
   * @return array
   *   [job, secrets]
   */
  public function backup(string $trigger): array {
    $settings = $this->site->settings();
    $builder = new CRM_Civibackup_JobBuilder();
    $job = $builder->build($settings, [
      'destination' => $this->site->destination(),
      'directories' => $this->civi->directories(),
      'loggingSeparate' => $this->site->loggingSeparate(),
      'offsite' => CRM_Civibackup_Config::decodeOffsite((string) $settings['civibackup_offsite']),
      'trigger' => $trigger,
      'civicrmVersion' => $this->civi->civicrmVersion(),
      'site' => $this->civi->siteName(),
      'stateDir' => $this->civi->resolvePath('[civicrm.private]/civibackup/state'),
    ]);
    $secrets = $builder->secrets($job, $this->civi->dsn(), $this->civi->loggingDsn(), CRM_Civibackup_Config::offsiteSecrets($this->civi));
    return [$job, $secrets];
  }

  /**
   * The job of Backup.testDestination (only that destination) and the environment with its
   * secret; the environment is empty when there is no secret, typed or stored.
   *
   * @return array
   *   [job, secrets]
   */
  public function testDestination(array $destination): array {
    $name = trim((string) ($destination['name'] ?? ''));
    $secret = (string) ($destination['secret'] ?? '');
    if ($secret === '') {
      $secret = (string) (CRM_Civibackup_Config::offsiteSecrets($this->civi)[$name] ?? '');
    }
    $builder = new CRM_Civibackup_JobBuilder();
    $specs = $builder->offsiteSpecs([['name' => $name, 'type' => $destination['type'] ?? '', 'options' => (array) ($destination['options'] ?? [])]]);
    $job = [
      'version' => CRM_Civibackup_JobBuilder::JOB_VERSION,
      'command' => 'backup',
      'to' => $this->site->destination(),
      'offsite' => $specs,
    ];
    $env = $specs[0]['secretEnv'] ?? $specs[0]['privateKeyEnv'];
    return [$job, $secret === '' ? [] : [$env => $secret]];
  }

}
