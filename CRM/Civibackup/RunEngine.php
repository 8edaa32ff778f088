<?php
declare(strict_types = 1);

/**
 * Runs: one or more helper processes ("steps") under one run id, one run at a time (the run
 * lock). A restore is two steps: the safety backup, then the restore. A detached step is
 * advanced by whoever reads the run's status next (the page polls every second), so a
 * restore never starts unattended. Each run's events are stored per step and read back as
 * one stream; its outcome is recorded once (last-run setting, failure alert).
 */
final class CRM_Civibackup_RunEngine {

  /**
   * Seconds a detached multi-step run may wait for a status poll before it is ended.
   */
  public const PENDING_STEP_TIMEOUT = 600;

  /**
   * The message of a run the administrator cancelled (Backup.cancel).
   */
  public const CANCELLED_BY_USER = 'Cancelled at your request.';

  /**
   * @var CRM_Civibackup_Civi
   */
  private $civi;

  /**
   * @var CRM_Civibackup_RunStore
   */
  private $runs;

  /**
   * @var CRM_Civibackup_RunLock
   */
  private $lock;

  /**
   * @var CRM_Civibackup_Helper
   */
  private $helper;

  /**
   * @var CRM_Civibackup_Secrets
   */
  private $secrets;

  /**
   * @var CRM_Civibackup_DestinationSafety
   */
  private $safety;

  /**
   * @var string
   */
  private $stateDir;

  /**
   * @var CRM_Civibackup_CodeChanges
   */
  private $codeChanges;

  public function __construct(CRM_Civibackup_Civi $civi, CRM_Civibackup_RunStore $runs, CRM_Civibackup_RunLock $lock, CRM_Civibackup_Helper $helper, CRM_Civibackup_Secrets $secrets, CRM_Civibackup_DestinationSafety $safety, string $stateDir, ?CRM_Civibackup_CodeChanges $codeChanges = NULL) {
    $this->civi = $civi;
    $this->runs = $runs;
    $this->lock = $lock;
    $this->helper = $helper;
    $this->secrets = $secrets;
    $this->safety = $safety;
    $this->stateDir = $stateDir;
    $this->codeChanges = $codeChanges ?? new CRM_Civibackup_CodeChanges($stateDir . '/changes');
  }

  /**
   * Backup.status: events after $since; advances a multi-step run whose step has finished.
   */
  public function status(string $runId, int $since = 0): array {
    if (!$this->runs->exists($runId)) {
      throw new CRM_Civibackup_Error('USAGE', "There is no run $runId.", 'Use the run id that Backup.run returned.');
    }
    $running = $this->lock->heldBy() === $runId;
    if (!$running) {
      $this->advance($runId);
      $running = $this->lock->heldBy() === $runId;
    }
    $events = $this->mergedEvents($runId);
    $final = $this->chainFinal($runId, $events);
    $done = !$running && $final !== NULL;
    if ($done) {
      if (($final['type'] ?? '') === 'result') {
        // The last step may have ended after the advance() above: its post-step work
        // (flush after a database restore) is done before the run is reported done.
        $this->advance($runId);
      }
      $this->record($runId, $final);
    }
    $record = [
      'runId' => $runId,
      'events' => array_values(array_filter($events, function (array $e) use ($since): bool {
        return $e['seq'] > $since;
      })),
      'done' => $done,
      'running' => $running,
    ];
    $safetySetId = $this->safetySetId($runId);
    if ($safetySetId !== NULL) {
      $record['safetySetId'] = $safetySetId;
    }
    return $record;
  }

  /**
   * The set the run's safety step (a step marked 'safety', the backup before a restore)
   * wrote, once that step has ended well; NULL before, or when the run has none.
   */
  public function safetySetId(string $runId): ?string {
    foreach ($this->runs->meta($runId)['steps'] ?? [] as $index => $step) {
      if (!empty($step['safety'])) {
        $final = (new CRM_Civibackup_EventLog($this->stepEventsFile($runId, (int) $index)))->finalEvent();
        return ($final['type'] ?? '') === 'result' && !empty($final['set']) ? basename((string) $final['set']) : NULL;
      }
    }
    return NULL;
  }

  /**
   * Backup.cancel: SIGTERM to the helper of a running run; it ends with a CANCELLED event.
   */
  public function cancel(string $runId): array {
    if (!$this->runs->exists($runId)) {
      throw new CRM_Civibackup_Error('USAGE', "There is no run $runId.", 'Use the run id that Backup.run returned.');
    }
    $meta = $this->runs->updateMeta($runId, ['cancelled' => TRUE]);
    $signalled = FALSE;
    if ($this->lock->heldBy() === $runId) {
      if (!empty($meta['pid'])) {
        $signalled = CRM_Civibackup_Launcher::terminate((int) $meta['pid']);
      }
    }
    else {
      // Between two steps (no helper running): the next step is never started.
      $this->advance($runId);
      $signalled = $this->chainFinal($runId, $this->mergedEvents($runId)) !== NULL;
    }
    return ['runId' => $runId, 'cancelled' => $signalled];
  }

  /**
   * The newest backup run that has finished and was not yet recorded gets recorded (last
   * run setting, failure alert). Called by status checks, so a detached run that nobody
   * polled still raises its alert.
   */
  public function reconcile(): void {
    foreach (array_slice($this->runs->list(), 0, 5) as $runId) {
      $meta = $this->runs->meta($runId);
      if (!empty($meta['recorded']) || $this->lock->heldBy() === $runId) {
        continue;
      }
      $index = (int) ($meta['step'] ?? 0);
      $stepFinal = (new CRM_Civibackup_EventLog($this->stepEventsFile($runId, $index)))->finalEvent();
      if ($stepFinal === NULL) {
        $this->appendCrashEventIfDead($runId, $index);
      }
      elseif (($stepFinal['type'] ?? '') === 'result' && !isset($meta['steps'][$index + 1])) {
        // A detached restore that ended with nobody watching still gets its flush.
        $this->advance($runId);
      }
      elseif (($stepFinal['type'] ?? '') === 'result' && isset($meta['steps'][$index + 1]) && strtotime((string) ($stepFinal['time'] ?? '')) < time() - self::PENDING_STEP_TIMEOUT) {
        // A restore's next step starts only while someone watches the page; nobody came back.
        $this->endPendingStep($runId, $index + 1, 'CANCELLED', 'The restore was not started: nobody was watching the Backups page when the safety backup finished.', 'Start the restore again from the Backups page and keep the page open.');
      }
      $events = $this->mergedEvents($runId);
      $final = $this->chainFinal($runId, $events);
      if ($final !== NULL) {
        $this->record($runId, $final);
      }
    }
  }

  /**
   * Starts step 0 of a run (attached: all steps, in this process).
   *
   * @param string|null $runId
   *   The run id the caller chose (the page, so it can follow an attached run with
   *   Backup.status while this request still runs); NULL: a new one.
   */
  public function start(string $kind, string $trigger, array $steps, bool $async, ?array $job, array $secrets, ?string $runId = NULL): array {
    if ($runId !== NULL && (!CRM_Civibackup_RunStore::isRunId($runId) || $this->runs->exists($runId))) {
      throw new CRM_Civibackup_Error('USAGE', 'That run id cannot be used for a new run.', 'Leave the run id out, or send a new one (yyyymmdd-hhmmss-8 hex digits).');
    }
    $this->safety->protectDirectory($this->stateDir);
    $runId = $runId ?? CRM_Civibackup_RunStore::newRunId();
    $this->lock->acquire($runId);
    try {
      $this->runs->create($kind, $trigger, ['steps' => $steps, 'step' => 0, 'async' => $async], $runId);
      if ($job !== NULL) {
        $this->runs->writeJob($runId, $job);
      }
      if ($async) {
        $this->startStep($runId, 0, $secrets);
        return ['runId' => $runId];
      }
      // Attached: PHP waits for the helper however long it takes, and a browser that goes
      // away must not abort a restore half way.
      if (function_exists('set_time_limit')) {
        @set_time_limit(0);
      }
      ignore_user_abort(TRUE);
      // The page follows an attached run by polling Backup.status in other requests of the
      // same session; PHP's session lock would hold each of them until this one ends.
      if (session_status() === PHP_SESSION_ACTIVE) {
        session_write_close();
      }
      $final = NULL;
      foreach ($steps as $index => $step) {
        $this->runs->updateMeta($runId, ['step' => $index]);
        $final = $this->helper->launcher()->runAttached($this->stepArgs($runId, $step), $index === 0 ? $secrets : $this->secrets->forStep($step['secrets']), $this->stepEventsFile($runId, $index), NULL, $this->lock->handle(), $runId, $this->runs->stderrFile($runId), function (int $pid) use ($runId): void {
          $this->runs->updateMeta($runId, ['pid' => $pid]);
        });
        if (($final['type'] ?? '') !== 'result') {
          break;
        }
        if (!empty($step['flushAfter'])) {
          $this->civi->flushAfterRestore();
        }
      }
    }
    finally {
      // A detached helper inherited the lock and keeps it; this only drops PHP's handle.
      $this->lock->release();
    }
    $final = $this->chainFinal($runId, $this->mergedEvents($runId)) ?? $final;
    $this->record($runId, $final);
    return ['runId' => $runId, 'result' => $final];
  }

  private function startStep(string $runId, int $index, array $secrets): void {
    $meta = $this->runs->meta($runId);
    $step = $meta['steps'][$index];
    $pid = $this->helper->launcher()->startDetached($this->stepArgs($runId, $step), $secrets, $this->stepEventsFile($runId, $index), $this->runs->stderrFile($runId), $this->lock->handle(), $runId);
    $this->runs->updateMeta($runId, ['step' => $index, 'pid' => $pid]);
  }

  /**
   * Moves a finished-looking run on: a helper that died without a final event gets one; a
   * detached run whose step ended well gets its post-step work (flush after a database
   * restore) and its next step started (taking the lock again). Attached runs are driven by
   * their own process, so only the crash case applies to them.
   */
  private function advance(string $runId): void {
    $meta = $this->runs->meta($runId);
    $steps = $meta['steps'] ?? [];
    $index = (int) ($meta['step'] ?? 0);
    $final = (new CRM_Civibackup_EventLog($this->stepEventsFile($runId, $index)))->finalEvent();
    if ($final === NULL) {
      $this->appendCrashEventIfDead($runId, $index);
      return;
    }
    if (($final['type'] ?? '') !== 'result' || empty($meta['async'])) {
      return;
    }
    if (!empty($steps[$index]['flushAfter']) && empty($meta['flushed'])) {
      $this->civi->flushAfterRestore();
      $this->runs->updateMeta($runId, ['flushed' => TRUE]);
    }
    if (!isset($steps[$index + 1])) {
      return;
    }
    if (!empty($meta['cancelled'])) {
      $this->endPendingStep($runId, $index + 1, 'CANCELLED', 'The run was cancelled before its next step started.', 'Nothing was restored; the safety backup is kept.');
      return;
    }
    try {
      $this->lock->acquire($runId);
    }
    catch (CRM_Civibackup_Error $e) {
      // Someone else is running; try again on the next poll.
      return;
    }
    try {
      $this->startStep($runId, $index + 1, $this->secrets->forStep($steps[$index + 1]['secrets']));
    }
    finally {
      $this->lock->release();
    }
  }

  /**
   * Ends a run at a step that never started: writes its error event and moves the run to it.
   */
  private function endPendingStep(string $runId, int $index, string $code, string $message, string $hint): void {
    $file = $this->stepEventsFile($runId, $index);
    if ((new CRM_Civibackup_EventLog($file))->finalEvent() !== NULL) {
      return;
    }
    $event = [
      'v' => CRM_Civibackup_EventLog::EVENT_VERSION,
      'seq' => 1,
      'runId' => $runId,
      'time' => gmdate('Y-m-d\TH:i:s\Z'),
      'type' => 'error',
      'code' => $code,
      'message' => $message,
      'hint' => $hint,
      'retryable' => TRUE,
      'exitCode' => 1,
    ];
    file_put_contents($file, json_encode($event, JSON_UNESCAPED_SLASHES) . "\n", FILE_APPEND);
    $this->runs->updateMeta($runId, ['step' => $index]);
  }

  /**
   * A helper that died without a final event (killed, out of memory, its PHP parent gone)
   * gets one written for it, so the run ends visibly instead of hanging. The helper holds
   * the run lock for as long as it lives, so a free lock means it is gone.
   */
  private function appendCrashEventIfDead(string $runId, int $index): void {
    $meta = $this->runs->meta($runId);
    $holder = $this->lock->heldBy();
    // 'unknown': the lock was taken a moment ago and its run id is not written yet.
    if ($holder === $runId || $holder === 'unknown' || (!empty($meta['pid']) && CRM_Civibackup_Launcher::isAlive((int) $meta['pid']))) {
      return;
    }
    $file = $this->stepEventsFile($runId, $index);
    $last = NULL;
    foreach ((new CRM_Civibackup_EventLog($file))->readAll() as $event) {
      $last = $event;
    }
    $cancelled = !empty($meta['cancelled']);
    $tail = CRM_Civibackup_Launcher::tail($this->runs->stderrFile($runId));
    $event = [
      'v' => CRM_Civibackup_EventLog::EVENT_VERSION,
      'seq' => ($last['seq'] ?? 0) + 1,
      'runId' => $runId,
      'time' => gmdate('Y-m-d\TH:i:s\Z'),
      'type' => 'error',
      'code' => $cancelled ? 'CANCELLED' : 'INTERNAL',
      // A helper stopped by the administrator's cancel often dies before it can report: that
      // is the cancel working, not a crash, so its output is no news.
      'message' => $cancelled ? self::CANCELLED_BY_USER : 'The CiviBackup helper stopped without reporting a result.' . ($tail !== '' ? ' Its last output: ' . $tail : ''),
      'hint' => $cancelled ? 'The run was cancelled; no complete set was written and earlier sets are untouched.' : 'An unexpected error; please report it with the log.',
      'retryable' => TRUE,
      'exitCode' => 1,
    ];
    file_put_contents($file, json_encode($event, JSON_UNESCAPED_SLASHES) . "\n", FILE_APPEND);
  }

  /**
   * All steps' events as one stream: seq renumbered 1..n across steps; a step's `result`
   * that is not the last step's becomes a `phase` event for the next step.
   */
  public function mergedEvents(string $runId): array {
    $meta = $this->runs->meta($runId);
    $steps = $meta['steps'] ?? [[]];
    $merged = [];
    foreach (array_keys($steps) as $index) {
      foreach ((new CRM_Civibackup_EventLog($this->stepEventsFile($runId, $index)))->readAll() as $event) {
        if (($event['type'] ?? '') === 'result' && $index < count($steps) - 1) {
          $event = [
            'v' => $event['v'],
            'seq' => 0,
            'runId' => $event['runId'],
            'time' => $event['time'],
            'type' => 'phase',
            'phase' => 'restore',
          ];
        }
        if (!empty($meta['cancelled']) && ($event['type'] ?? '') === 'error' && ($event['code'] ?? '') === 'CANCELLED') {
          // Whichever way the run ended after Backup.cancel (the helper's own CANCELLED
          // event, or one written for it), the page says plainly who stopped it.
          $event['message'] = self::CANCELLED_BY_USER;
          $event['retryable'] = FALSE;
        }
        $event['seq'] = count($merged) + 1;
        $merged[] = $event;
      }
    }
    return $merged;
  }

  /**
   * The final event of the whole run: an error of any step, or the last step's result.
   */
  private function chainFinal(string $runId, array $events): ?array {
    $meta = $this->runs->meta($runId);
    $lastStep = count($meta['steps'] ?? [[]]) - 1;
    foreach ($events as $event) {
      if (($event['type'] ?? '') === 'error') {
        return $event;
      }
    }
    $final = (new CRM_Civibackup_EventLog($this->stepEventsFile($runId, $lastStep)))->finalEvent();
    if ($final === NULL) {
      return NULL;
    }
    // The merged copy, with its renumbered seq.
    for ($i = count($events) - 1; $i >= 0; $i--) {
      if (($events[$i]['type'] ?? '') === 'result') {
        return $events[$i];
      }
    }
    return $final;
  }

  /**
   * Once per run: the last-run setting (backups) and a failure alert.
   */
  private function record(string $runId, ?array $final): void {
    if ($final === NULL) {
      return;
    }
    $meta = $this->runs->meta($runId);
    if (!empty($meta['recorded'])) {
      return;
    }
    $ok = ($final['type'] ?? '') === 'result';
    $summary = [
      'runId' => $runId,
      'kind' => $meta['kind'] ?? 'backup',
      'trigger' => $meta['trigger'] ?? '',
      'startedAt' => $meta['startedAt'] ?? NULL,
      'finishedAt' => $final['time'] ?? gmdate('c'),
      'status' => $ok ? 'success' : 'failed',
      'set' => $final['set'] ?? NULL,
      'code' => $ok ? NULL : ($final['code'] ?? 'INTERNAL'),
      'message' => $ok ? NULL : ($final['message'] ?? ''),
    ];
    $this->runs->updateMeta($runId, ['recorded' => TRUE, 'outcome' => $summary]);
    if (($meta['kind'] ?? '') === 'backup') {
      $this->civi->setSetting('civibackup_last_run', $summary);
    }
    $this->recordCodeChanges($runId);
    if (!$ok && ($final['code'] ?? '') !== 'CANCELLED') {
      try {
        $sent = (new CRM_Civibackup_Alerts($this->civi))->runFailed($summary, $final);
        $this->runs->updateMeta($runId, ['alerted' => $sent]);
      }
      catch (\Throwable $e) {
        // A mail problem (no From address configured, SMTP down) must not hide the run's
        // outcome from the page or the job log; it is kept with the run.
        $this->runs->updateMeta($runId, ['alerted' => FALSE, 'alertError' => $e->getMessage()]);
      }
    }
    $this->runs->prune(50, [$runId]);
  }

  /**
   * Every backup step of the run that ended well (a backup's, a restore's safety backup, even
   * when the restore after it failed) leaves its set's code changes with the site.
   */
  private function recordCodeChanges(string $runId): void {
    foreach ($this->runs->meta($runId)['steps'] ?? [] as $index => $step) {
      if (($step['args'][0] ?? '') !== 'backup') {
        continue;
      }
      $final = (new CRM_Civibackup_EventLog($this->stepEventsFile($runId, (int) $index)))->finalEvent();
      if (($final['type'] ?? '') !== 'result') {
        continue;
      }
      try {
        $this->codeChanges->recordBackup($final);
      }
      catch (\Throwable $e) {
        // The set is written and the run went well: a full private files disk only costs the
        // set its list of code changes ("not recorded" on the page), kept with the run.
        $this->runs->updateMeta($runId, ['codeChangesError' => $e->getMessage()]);
      }
    }
  }

  private function stepArgs(string $runId, array $step): array {
    return array_map(function (string $arg) use ($runId): string {
      return $arg === '{job}' ? $this->runs->jobFile($runId) : $arg;
    }, $step['args']);
  }

  private function stepEventsFile(string $runId, int $index): string {
    return $index === 0 ? $this->runs->eventsFile($runId) : $this->runs->dir($runId) . "/events-$index.ndjson";
  }

}
