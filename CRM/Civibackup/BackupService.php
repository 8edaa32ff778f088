<?php
declare(strict_types = 1);

/**
 * What the API actions and the scheduled job call: builds jobs from the settings, starts the
 * helper through the launcher, reads runs back, records outcomes and sends failure alerts.
 * CiviCRM is reached only through the seam (CRM_Civibackup_Civi).
 *
 * A run is one or more helper processes ("steps") under one run id; a restore is two: the
 * safety backup, then the restore. Detached steps are advanced by whoever reads the run's
 * status next (the page polls every second), so a restore never starts unattended.
 */
final class CRM_Civibackup_BackupService {

  public const SET_ID_PATTERN = '/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/D';

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
   * @var string
   */
  private $extensionDir;

  /**
   * @var CRM_Civibackup_Launcher|null
   */
  private $launcher;

  /**
   * @var string
   */
  private $stateDir;

  /**
   * @var CRM_Civibackup_RunStore
   */
  private $runs;

  /**
   * @var CRM_Civibackup_RunLock
   */
  private $lock;

  /**
   * @var CRM_Civibackup_DestinationSafety
   */
  private $safety;

  /**
   * Secrets given for one call only (an identity typed in on the page); never stored.
   *
   * @var array
   */
  private $transientSecrets = [];

  public function __construct(CRM_Civibackup_Civi $civi, string $extensionDir, ?CRM_Civibackup_Launcher $launcher = NULL, ?string $stateDir = NULL) {
    $this->civi = $civi;
    $this->extensionDir = rtrim($extensionDir, '/');
    $this->launcher = $launcher;
    $this->stateDir = rtrim($stateDir ?? $civi->resolvePath('[civicrm.private]/civibackup'), '/');
    $this->runs = new CRM_Civibackup_RunStore($this->stateDir . '/runs');
    $this->lock = new CRM_Civibackup_RunLock($this->stateDir . '/run.lock');
    $this->safety = new CRM_Civibackup_DestinationSafety($civi);
  }

  /**
   * The service wired to the live CiviCRM.
   */
  public static function create(): self {
    return new self(new CRM_Civibackup_CiviRuntime(), CRM_Civibackup_ExtensionUtil::path());
  }

  public function civi(): CRM_Civibackup_Civi {
    return $this->civi;
  }

  public function runs(): CRM_Civibackup_RunStore {
    return $this->runs;
  }

  public function lock(): CRM_Civibackup_RunLock {
    return $this->lock;
  }

  public function launcher(): CRM_Civibackup_Launcher {
    if ($this->launcher === NULL) {
      $this->launcher = new CRM_Civibackup_Launcher($this->helperScript(), (string) $this->civi->getSetting('civibackup_node_path'));
    }
    return $this->launcher;
  }

  public function helperScript(): string {
    $script = $this->extensionDir . '/dist/civibackup.mjs';
    if (!is_file($script)) {
      throw new CRM_Civibackup_Error('CONFIG', "The helper $script is missing.", 'Install CiviBackup from its release zip, or run `npm run build` in the extension directory.');
    }
    return $script;
  }

  /**
   * Every civibackup_* setting, by name.
   */
  public function settings(): array {
    $values = [];
    foreach (CRM_Civibackup_Config::settingNames() as $name) {
      $values[$name] = $this->civi->getSetting($name);
    }
    return $values;
  }

  public function destination(): string {
    $setting = trim((string) $this->civi->getSetting('civibackup_destination'));
    if ($setting === '') {
      $setting = CRM_Civibackup_Config::DEFAULT_DESTINATION;
    }
    return rtrim($this->civi->resolvePath($setting), '/');
  }

  public function loggingSeparate(): bool {
    $logging = $this->civi->loggingDsn();
    if ($logging === NULL || $logging === '') {
      return FALSE;
    }
    return !CRM_Civibackup_Dsn::parse($logging)->sameDatabaseAs(CRM_Civibackup_Dsn::parse($this->civi->dsn()));
  }

  /**
   * The job for a backup now, and the environment carrying its secrets.
   *
   * @return array
   *   [job, secrets]
   */
  public function backupJob(string $trigger): array {
    $settings = $this->settings();
    $builder = new CRM_Civibackup_JobBuilder();
    $job = $builder->build($settings, [
      'destination' => $this->destination(),
      'directories' => $this->civi->directories(),
      'loggingSeparate' => $this->loggingSeparate(),
      'offsite' => CRM_Civibackup_Config::decodeOffsite((string) $settings['civibackup_offsite']),
      'trigger' => $trigger,
      'civicrmVersion' => $this->civi->civicrmVersion(),
      'site' => $this->civi->siteName(),
    ]);
    $secrets = $builder->secrets($job, $this->civi->dsn(), $this->civi->loggingDsn(), CRM_Civibackup_Config::offsiteSecrets($this->civi));
    return [$job, $secrets];
  }

  /**
   * Backup.run. Attached (cron, CLI) returns the final event; detached returns at once.
   */
  public function runBackup(bool $async, string $trigger): array {
    [$job, $secrets] = $this->backupJob($trigger);
    $this->launcher()->checkNode();
    $this->safety->ensureDestination($job['to']);
    return $this->startRun('backup', $trigger, [
      ['args' => ['backup', '--job', '{job}'], 'secrets' => 'backup'],
    ], $async, $job, $secrets);
  }

  /**
   * Backup.verify: hashes, or a test restore into a scratch database (deep).
   */
  public function verify(string $setId, bool $deep, bool $async, string $trigger = 'page', string $identity = ''): array {
    $set = $this->findSet($setId);
    $args = ['verify', $set['location']];
    if ($deep) {
      $args[] = '--deep';
    }
    $this->launcher()->checkNode();
    return $this->startRun('verify', $trigger, [
      ['args' => $args, 'secrets' => $deep ? 'scratch' : 'none'],
    ], $async, NULL, $this->secretsFor($deep ? 'scratch' : 'none') + self::identitySecret($identity));
  }

  /**
   * Backup.restore: the typed confirmation must equal the set id; a safety backup runs first.
   *
   * @param string[] $directories
   *   Labels of the set's directories to restore.
   */
  public function restore(string $setId, bool $database, array $directories, string $confirm, bool $async, string $trigger = 'page', string $identity = ''): array {
    if ($confirm !== $setId) {
      throw new CRM_Civibackup_Error('USAGE', 'The confirmation does not match the set id.', 'Type the id of the set you are restoring, exactly as shown.');
    }
    if (!$database && !$directories) {
      throw new CRM_Civibackup_Error('USAGE', 'Nothing to restore was chosen.', 'Choose the database, one or more directories, or both.');
    }
    $set = $this->findSet($setId);
    $paths = $this->civi->directories();
    $args = ['restore', $set['location'], '--force'];
    foreach ($directories as $label) {
      $key = NULL;
      foreach (CRM_Civibackup_JobBuilder::DIRECTORIES as $candidate => $spec) {
        if ($spec['label'] === $label) {
          $key = $candidate;
        }
      }
      if ($key === NULL || empty($paths[$key])) {
        throw new CRM_Civibackup_Error('USAGE', "\"$label\" is not a directory this site can restore into.", 'Check Administer » System Settings » Directories.');
      }
      $args[] = '--files';
      $args[] = $label . '=' . rtrim($paths[$key], '/');
    }
    // The helper restores the database when CIVIBACKUP_DSN is in its environment (step
    // secrets 'restore'), and only the directories otherwise.
    [$job, $backupSecrets] = $this->backupJob('safety-before-restore');
    // The safety backup never prunes: retention must not remove the set about to be restored.
    unset($job['retention']);
    $this->launcher()->checkNode();
    $this->safety->ensureDestination($job['to']);
    if ($identity !== '' && $async) {
      // The identity is never written to disk, and a detached restore step starts in a
      // later request; an encrypted set is therefore restored attached.
      $async = FALSE;
    }
    $this->transientSecrets = self::identitySecret($identity);
    try {
      return $this->startRun('restore', $trigger, [
        ['args' => ['backup', '--job', '{job}'], 'secrets' => 'backup'],
        ['args' => $args, 'secrets' => $database ? 'restore' : 'none', 'flushAfter' => $database],
      ], $async, $job, $backupSecrets);
    }
    finally {
      $this->transientSecrets = [];
    }
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
    return [
      'runId' => $runId,
      'events' => array_values(array_filter($events, function (array $e) use ($since): bool {
        return $e['seq'] > $since;
      })),
      'done' => $done,
      'running' => $running,
    ];
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
   * Backup.get: the complete sets at the destination, newest first (`civibackup list --json`).
   */
  public function listSets(): array {
    $destination = $this->destination();
    if (!is_dir($destination)) {
      return [];
    }
    $final = $this->launcher()->runAttached(['list', $destination]);
    if (($final['type'] ?? '') !== 'result') {
      throw self::errorFromEvent($final);
    }
    return array_values((array) ($final['summary']['sets'] ?? []));
  }

  /**
   * Backup.delete: one set; never the newest complete one.
   */
  public function delete(string $setId): array {
    $sets = $this->listSets();
    $set = $this->findSet($setId, $sets);
    if ($sets[0]['setId'] === $setId) {
      throw new CRM_Civibackup_Error('USAGE', 'The newest complete backup set cannot be deleted.', 'Make a newer backup first if you really want this one gone.');
    }
    $destination = realpath($this->destination());
    $path = realpath((string) $set['location']);
    if ($destination === FALSE || $path === FALSE || dirname($path) !== $destination) {
      throw new CRM_Civibackup_Error('USAGE', 'Only sets directly inside the destination directory can be deleted here.', 'Delete it by hand.');
    }
    $runId = CRM_Civibackup_RunStore::newRunId();
    $this->lock->acquire($runId);
    try {
      self::removeTree($path);
    }
    finally {
      $this->lock->release();
    }
    return ['setId' => $setId, 'deleted' => TRUE];
  }

  /**
   * Backup.testDestination: the helper (`civibackup test-destination`) writes, reads back,
   * lists and removes a probe object at one offsite destination. The job file holds only
   * that destination; its secret (typed, or the one stored under its name) travels in the
   * environment variable the job names, exactly as for a backup.
   *
   * @return array
   *   ['ok' => bool, 'message' => string]
   */
  public function testDestination(array $destination): array {
    [$job, $secrets] = $this->testDestinationJob($destination);
    if (!$secrets) {
      return ['ok' => FALSE, 'message' => $this->civi->ts('Enter the secret of the offsite destination "%1" to test it.', [1 => $job['offsite'][0]['name']])];
    }
    $this->launcher()->checkNode();
    if (!$this->helperHasVerb('test-destination')) {
      return ['ok' => FALSE, 'message' => $this->civi->ts('This version of the CiviBackup helper cannot test destinations yet; the destination will be tried by the next backup.')];
    }
    $file = (string) tempnam(sys_get_temp_dir(), 'civibackup-test-');
    try {
      chmod($file, 0600);
      file_put_contents($file, json_encode($job, JSON_UNESCAPED_SLASHES));
      $final = $this->launcher()->runAttached(['test-destination', '--job', $file], $secrets);
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

  /**
   * The job of Backup.testDestination (only that destination) and the environment with its
   * secret; the environment is empty when there is no secret, typed or stored.
   *
   * @return array
   *   [job, secrets]
   */
  public function testDestinationJob(array $destination): array {
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
      'to' => $this->destination(),
      'offsite' => $specs,
    ];
    $env = $specs[0]['secretEnv'] ?? $specs[0]['privateKeyEnv'];
    return [$job, $secret === '' ? [] : [$env => $secret]];
  }

  private function helperHasVerb(string $verb): bool {
    return strpos($this->launcher()->helpText(), "civibackup $verb ") !== FALSE;
  }

  /**
   * The set with this id, from `list` (or the list given).
   */
  public function findSet(string $setId, ?array $sets = NULL): array {
    if (!preg_match(self::SET_ID_PATTERN, $setId)) {
      throw new CRM_Civibackup_Error('USAGE', 'Not a backup set id.', 'Use an id from the list of sets.');
    }
    foreach ($sets ?? $this->listSets() as $set) {
      if (($set['setId'] ?? NULL) === $setId) {
        return $set;
      }
    }
    throw new CRM_Civibackup_Error('USAGE', "There is no complete set $setId at the destination.", 'Use an id from the list of sets.');
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
   */
  private function startRun(string $kind, string $trigger, array $steps, bool $async, ?array $job, array $secrets): array {
    $this->safety->protectDirectory($this->stateDir);
    $runId = CRM_Civibackup_RunStore::newRunId();
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
      $final = NULL;
      foreach ($steps as $index => $step) {
        $this->runs->updateMeta($runId, ['step' => $index]);
        $final = $this->launcher()->runAttached($this->stepArgs($runId, $step), $index === 0 ? $secrets : $this->secretsFor($step['secrets']), $this->stepEventsFile($runId, $index), NULL, $this->lock->handle(), $runId, $this->runs->stderrFile($runId), function (int $pid) use ($runId): void {
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
    $pid = $this->launcher()->startDetached($this->stepArgs($runId, $step), $secrets, $this->stepEventsFile($runId, $index), $this->runs->stderrFile($runId), $this->lock->handle(), $runId);
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
      $this->startStep($runId, $index + 1, $this->secretsFor($steps[$index + 1]['secrets']));
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

  private function stepArgs(string $runId, array $step): array {
    return array_map(function (string $arg) use ($runId): string {
      return $arg === '{job}' ? $this->runs->jobFile($runId) : $arg;
    }, $step['args']);
  }

  private function stepEventsFile(string $runId, int $index): string {
    return $index === 0 ? $this->runs->eventsFile($runId) : $this->runs->dir($runId) . "/events-$index.ndjson";
  }

  /**
   * Secrets a step needs, rebuilt each time (they are never written to disk).
   */
  private function secretsFor(string $kind): array {
    switch ($kind) {
      case 'backup':
        return $this->backupJob('backup')[1];

      case 'restore':
        $secrets = [CRM_Civibackup_JobBuilder::ENV_DSN => $this->civi->dsn()];
        if ($this->loggingSeparate()) {
          $secrets[CRM_Civibackup_JobBuilder::ENV_LOGGING_DSN] = (string) $this->civi->loggingDsn();
        }
        return $secrets + $this->transientSecrets;

      case 'scratch':
        return [CRM_Civibackup_JobBuilder::ENV_SCRATCH_DSN => $this->scratchDsn()];

      default:
        return $this->transientSecrets;
    }
  }

  /**
   * An age identity (AGE-SECRET-KEY-1...) typed in for one call: environment only.
   */
  private static function identitySecret(string $identity): array {
    $identity = trim($identity);
    return $identity === '' ? [] : [CRM_Civibackup_JobBuilder::ENV_IDENTITY => $identity];
  }

  /**
   * The deep-verify scratch database: civibackup_scratch_database, or the site's database
   * name + "_cbscratch"; same server and credentials (the user needs CREATE and DROP on it).
   */
  public function scratchDsn(): string {
    $dsn = CRM_Civibackup_Dsn::parse($this->civi->dsn());
    $name = trim((string) $this->civi->getSetting('civibackup_scratch_database'));
    if ($name === '') {
      $name = substr((string) $dsn->database(), 0, 54) . '_cbscratch';
    }
    if (!preg_match('/^[A-Za-z0-9_$]{1,64}$/D', $name) || $name === $dsn->database()) {
      throw new CRM_Civibackup_Error('CONFIG', "\"$name\" cannot be the scratch database.", 'Set civibackup_scratch_database to a database name (letters, digits, _) other than CiviCRM\'s own.');
    }
    return $dsn->withDatabase($name)->toString();
  }

  public static function errorFromEvent(array $event): CRM_Civibackup_Error {
    return new CRM_Civibackup_Error((string) ($event['code'] ?? 'INTERNAL'), (string) ($event['message'] ?? 'The helper failed.'), (string) ($event['hint'] ?? ''));
  }

  private static function removeTree(string $path): void {
    if (is_link($path) || !is_dir($path)) {
      @unlink($path);
      return;
    }
    foreach (scandir($path) ?: [] as $name) {
      if ($name !== '.' && $name !== '..') {
        self::removeTree($path . '/' . $name);
      }
    }
    rmdir($path);
  }

}
