<?php
declare(strict_types = 1);

/**
 * Job.civibackup_run: the scheduled backup. Runs the same service as Backup.run, attached,
 * so the result or the failure lands in CiviCRM's job log.
 */

/**
 * Job.civibackup_run API specification.
 *
 * @param array $spec
 */
function _civicrm_api3_job_civibackup_run_spec(&$spec) {
  // No parameters: what to back up and where come from the Backups settings.
}

/**
 * Job.civibackup_run: back up this site now.
 *
 * @param array $params
 * @return array
 * @throws CRM_Core_Exception
 */
function civicrm_api3_job_civibackup_run($params) {
  // A backup can take longer than PHP's limits; the helper does the work, PHP waits.
  if (function_exists('set_time_limit')) {
    @set_time_limit(0);
  }
  try {
    $run = CRM_Civibackup_BackupService::create()->runBackup(FALSE, 'cron');
  }
  catch (CRM_Civibackup_Error $e) {
    // The helper never started (Node missing or too old, destination not writable, bad settings):
    // the service alerts only for helper runs, so alert here; a scheduled backup that stops after
    // a server upgrade removed Node must not fail silently. LOCKED means another run is working.
    if ($e->getErrorCode() !== 'LOCKED') {
      try {
        (new CRM_Civibackup_Alerts(new CRM_Civibackup_CiviRuntime()))->runFailed(
          ['runId' => '-', 'kind' => 'backup', 'trigger' => 'cron', 'startedAt' => gmdate('c')],
          ['code' => $e->getErrorCode(), 'message' => $e->getMessage(), 'hint' => $e->getHint()]
        );
      }
      catch (\Throwable $alertError) {
        // The job log below still carries the real error.
      }
    }
    throw new CRM_Core_Exception('CiviBackup: ' . $e->getMessage() . ' ' . $e->getHint(), $e->getErrorCode());
  }
  $final = $run['result'] ?? [];
  if (($final['type'] ?? '') !== 'result') {
    throw new CRM_Core_Exception(sprintf('CiviBackup run %s failed [%s]: %s %s', $run['runId'], $final['code'] ?? 'INTERNAL', $final['message'] ?? '', $final['hint'] ?? ''), $final['code'] ?? 'INTERNAL');
  }
  // A sentence, not an array: CiviCRM's job log shows the values as text.
  $summary = $final['summary'] ?? [];
  $message = sprintf('Backup set %s written (%s bytes stored; %d tables, %d rows; %d directories) in run %s.',
    basename((string) ($final['set'] ?? '')),
    number_format((float) ($summary['bytes'] ?? 0), 0, '.', ' '),
    (int) ($summary['tables'] ?? 0),
    (int) ($summary['rows'] ?? 0),
    (int) ($summary['directories'] ?? 0),
    $run['runId']
  );
  foreach ((array) ($summary['warnings'] ?? []) as $warning) {
    $message .= ' Warning: ' . (is_array($warning) ? ($warning['message'] ?? json_encode($warning)) : (string) $warning);
  }
  return civicrm_api3_create_success($message, $params, 'Job', 'civibackup_run');
}
