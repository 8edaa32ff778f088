<?php
declare(strict_types = 1);

/**
 * Backup.testDestination: the helper (`civibackup test-destination`) writes, reads back,
 * lists and removes a probe object at one offsite destination. The job file holds only that
 * destination; its secret (typed, or the one stored under its name) travels in the
 * environment variable the job names, exactly as for a backup.
 */
final class CRM_Civibackup_TestDestinationTask {

  /**
   * @var CRM_Civibackup_Civi
   */
  private $civi;

  /**
   * @var CRM_Civibackup_Jobs
   */
  private $jobs;

  /**
   * @var CRM_Civibackup_Helper
   */
  private $helper;

  public function __construct(CRM_Civibackup_Civi $civi, CRM_Civibackup_Jobs $jobs, CRM_Civibackup_Helper $helper) {
    $this->civi = $civi;
    $this->jobs = $jobs;
    $this->helper = $helper;
  }

  /**
   * @return array
   *   ['ok' => bool, 'message' => string]
   */
  public function run(array $destination): array {
    [$job, $secrets] = $this->jobs->testDestination($destination);
    if (!$secrets) {
      return ['ok' => FALSE, 'message' => $this->civi->ts('Enter the secret of the offsite destination "%1" to test it.', [1 => $job['offsite'][0]['name']])];
    }
    $this->helper->launcher()->checkNode();
    if (!$this->helper->hasVerb('test-destination')) {
      return ['ok' => FALSE, 'message' => $this->civi->ts('This version of the CiviBackup helper cannot test destinations yet; the destination will be tried by the next backup.')];
    }
    $file = (string) tempnam(sys_get_temp_dir(), 'civibackup-test-');
    try {
      chmod($file, 0600);
      file_put_contents($file, json_encode($job, JSON_UNESCAPED_SLASHES));
      $final = $this->helper->launcher()->runAttached(['test-destination', '--job', $file], $secrets);
    }
    finally {
      @unlink($file);
    }
    if (($final['type'] ?? '') === 'result') {
      $summary = (array) ($final['summary'] ?? []);
      return [
        'ok' => TRUE,
        'message' => $this->civi->ts('%1: a probe object was written, read back, listed and removed in %2 ms.', [
          1 => (string) ($summary['destination'] ?? $job['offsite'][0]['name']),
          2 => (int) ($summary['latencyMs'] ?? 0),
        ]),
      ];
    }
    return ['ok' => FALSE, 'message' => trim(($final['message'] ?? '') . ' ' . ($final['hint'] ?? ''))];
  }

}
