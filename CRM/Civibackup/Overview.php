<?php
declare(strict_types = 1);

/**
 * Backup.overview: the page's first screen in one call (OverviewRecord in
 * ts-src/protocol/api.ts).
 */
final class CRM_Civibackup_Overview {

  /**
   * @var CRM_Civibackup_BackupService
   */
  private $service;

  public function __construct(CRM_Civibackup_BackupService $service) {
    $this->service = $service;
  }

  public function build(): array {
    $civi = $this->service->civi();
    $this->service->reconcile();
    $nodeVersion = NULL;
    // Why the sets are unknown: Node.js unusable (so the helper was not started) or the
    // helper's listing failed. NULL = the sets were listed.
    $unknownBecause = NULL;
    try {
      $nodeVersion = $this->service->launcher()->checkNode();
    }
    catch (CRM_Civibackup_Error $e) {
      $nodeVersion = NULL;
      $unknownBecause = $e;
    }
    $sets = NULL;
    $destinationBytes = NULL;
    $listError = NULL;
    if ($nodeVersion !== NULL) {
      try {
        $listing = $this->service->listing();
        $sets = $listing['sets'];
        $destinationBytes = $listing['destinationBytes'];
      }
      catch (CRM_Civibackup_Error $e) {
        $listError = $e;
        $unknownBecause = $e;
      }
    }
    $lastRestorable = NULL;
    foreach ($sets ?? [] as $set) {
      if (($set['verification']['state'] ?? '') === 'restorable') {
        $lastRestorable = $set;
        break;
      }
    }
    $job = $civi->scheduledJob();
    $checks = new CRM_Civibackup_StatusChecks(
      $civi,
      function () use ($sets, $listError): ?array {
        // The status checks report why the sets are unknown.
        if ($listError !== NULL) {
          throw $listError;
        }
        return $sets;
      },
      function () use ($nodeVersion): string {
        if ($nodeVersion === NULL) {
          // Re-run for the exact message.
          return $this->service->launcher()->checkNode();
        }
        return $nodeVersion;
      },
      $this->service->destination(),
      NULL,
      $this->service->safety()
    );
    // The page says why the sets are unknown once, from setList; the status checks that say
    // the same (Node.js unusable, listing failed) stay on System Status.
    $sayingWhyUnknown = $unknownBecause !== NULL ? ['civibackupNode', 'civibackupSetsUnknown'] : [];
    $warnings = [];
    foreach ($checks->evaluate() as $m) {
      if (!in_array($m['name'], $sayingWhyUnknown, TRUE)) {
        $warnings[] = ['name' => $m['name'], 'level' => $m['level'], 'title' => $m['title'], 'message' => $m['message']];
      }
    }
    $running = $this->service->lock()->heldBy();
    return [
      'lastBackup' => $sets[0] ?? NULL,
      'lastRestorable' => $lastRestorable,
      'nextScheduledRun' => self::nextRun($job),
      'jobActive' => (bool) ($job['is_active'] ?? FALSE),
      'jobFrequency' => (string) ($job['run_frequency'] ?? 'Daily'),
      'runningRunId' => $running !== NULL && CRM_Civibackup_RunStore::isRunId($running) ? $running : NULL,
      'warnings' => $warnings,
      // NULL figures while the sets are unknown: nothing could be counted, which is not 0.
      'storage' => [[
        'destination' => $this->service->destination(),
        // What the destination holds (shared pieces once); a helper that does not say it is
        // summed per set, as every set was a full copy then.
        'bytes' => $sets === NULL ? NULL : ($destinationBytes ?? array_sum(array_map(function (array $s): int {
          return (int) ($s['bytes'] ?? 0);
        }, $sets))),
        'sets' => $sets === NULL ? NULL : count($sets),
      ]],
      'nodeVersion' => $nodeVersion,
      'setList' => self::setList($unknownBecause),
    ];
  }

  /**
   * OverviewRecord.setList: whether the sets at the destination are known. When they are
   * not, lastBackup, lastRestorable and the storage figures say nothing (they are empty
   * because nothing could be listed, not because nothing exists), and the page shows why.
   */
  private static function setList(?CRM_Civibackup_Error $unknownBecause): array {
    if ($unknownBecause === NULL) {
      return ['state' => 'known'];
    }
    return [
      'state' => 'unknown',
      'code' => $unknownBecause->getErrorCode(),
      'reason' => $unknownBecause->getMessage(),
      'hint' => $unknownBecause->getHint(),
    ];
  }

  /**
   * When cron will run the job next: its scheduled date, or last run + its frequency
   * (CRM_Core_ScheduledJob::needsRunning). NULL for an active job means "at the next cron
   * run": it never ran, its time has already passed, or its frequency is every cron run.
   * The page tells that apart from an inactive job with OverviewRecord.jobActive.
   *
   * @param int|null $now
   *   Unix time to compare with (tests); NULL = now.
   */
  public static function nextRun(?array $job, ?int $now = NULL): ?string {
    if (!$job || empty($job['is_active'])) {
      return NULL;
    }
    $now = $now ?? time();
    if (!empty($job['scheduled_run_date'])) {
      $scheduled = strtotime((string) $job['scheduled_run_date']);
      return $scheduled !== FALSE && $scheduled > $now ? (string) $job['scheduled_run_date'] : NULL;
    }
    if (empty($job['last_run'])) {
      return NULL;
    }
    $intervals = ['Hourly' => '+1 hour', 'Daily' => '+1 day', 'Weekly' => '+1 week', 'Monthly' => '+1 month', 'Quarter' => '+3 months', 'Yearly' => '+1 year'];
    $interval = $intervals[$job['run_frequency'] ?? 'Daily'] ?? NULL;
    if ($interval === NULL) {
      return NULL;
    }
    $next = strtotime($interval, (int) strtotime((string) $job['last_run']));
    return $next && $next > $now ? date('Y-m-d H:i:s', $next) : NULL;
  }

}
