<?php
declare(strict_types = 1);

/**
 * Failure alerts by e-mail, through CiviCRM's mailer, to civibackup_alert_emails.
 */
final class CRM_Civibackup_Alerts {

  /**
   * @var CRM_Civibackup_Civi
   */
  private $civi;

  public function __construct(CRM_Civibackup_Civi $civi) {
    $this->civi = $civi;
  }

  /**
   * @param array $run
   *   The recorded outcome (runId, kind, trigger, startedAt, finishedAt, code, message).
   * @param array $error
   *   The run's error event.
   * @return bool
   *   TRUE when an e-mail went out.
   */
  public function runFailed(array $run, array $error): bool {
    $to = array_values(array_filter(array_map('trim', (array) ($this->civi->getSetting('civibackup_alert_emails') ?: []))));
    if (!$to) {
      return FALSE;
    }
    $site = $this->civi->siteName();
    $subject = $this->civi->ts('[%1] CiviBackup: %2 failed (%3)', [1 => $site, 2 => (string) ($run['kind'] ?? 'backup'), 3 => (string) ($error['code'] ?? 'INTERNAL')]);
    $lines = [
      $this->civi->ts('A CiviBackup %1 on %2 failed.', [1 => (string) ($run['kind'] ?? 'backup'), 2 => $site]),
      '',
      $this->civi->ts('Error: %1', [1 => (string) ($error['code'] ?? 'INTERNAL')]),
      (string) ($error['message'] ?? ''),
      '',
      $this->civi->ts('What to do: %1', [1 => (string) ($error['hint'] ?? '')]),
      '',
      $this->civi->ts('Run: %1 (started %2 by %3)', [1 => (string) ($run['runId'] ?? ''), 2 => (string) ($run['startedAt'] ?? ''), 3 => (string) ($run['trigger'] ?? '')]),
      $this->civi->ts('Earlier backup sets are untouched. See Administer » System Settings » Backups.'),
    ];
    return $this->civi->sendMail($to, $subject, implode("\n", $lines) . "\n");
  }

}
