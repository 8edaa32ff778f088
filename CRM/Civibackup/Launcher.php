<?php
declare(strict_types = 1);

/**
 * Starts the bundled helper (`node dist/civibackup.mjs VERB ... --json`) and collects its
 * NDJSON events.
 *
 * - No shell: proc_open() gets an argv array, so nothing is interpolated or word-split.
 * - Secrets (DSNs, passphrases, offsite keys) go into the child's environment only; the
 *   command line is refused if any secret value appears on it. The environment is built
 *   from a short allow-list rather than inherited wholesale from the web server.
 * - Attached (cron, CLI, short commands): stdout is read line by line, appended to the run's
 *   events file, and the final `result`/`error` event is returned.
 * - Detached (the page): the helper starts in its own session (setsid), writes its events
 *   straight into the run's events file, and the PHP request returns at once.
 * - The run lock's handle is passed down as descriptor 3, so the helper holds the lock for
 *   as long as it lives (see CRM_Civibackup_RunLock).
 */
final class CRM_Civibackup_Launcher {

  public const MIN_NODE_MAJOR = 20;

  /**
   * Environment variables passed through from PHP's own environment when set.
   */
  private const PASS_THROUGH = ['HOME', 'TMPDIR', 'TZ', 'LANG', 'LC_ALL', 'SSL_CERT_FILE', 'SSL_CERT_DIR', 'NODE_EXTRA_CA_CERTS', 'HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY'];

  private const DEFAULT_PATH = '/usr/local/bin:/usr/bin:/bin';

  /**
   * Set in the helper's environment (argv stays the helper's own), for its memory: a backup
   * of a million small files must stay within 200 MB peak RSS (issue #14).
   * - NODE_OPTIONS: a young generation of 2 x 4 MiB instead of V8's 2 x 16 MiB (~15-24 MiB
   *   less resident); the extra scavenges cost no measurable time.
   * - MALLOC_ARENA_MAX: glibc gives each thread (libuv's pool, V8's) its own malloc arena,
   *   each keeping freed blocks resident; two arenas keep ~10 MiB less (glibc only; others ignore it).
   * Figures in docs/benchmarks.md; bench/dedup.ts reads this constant to run the helper the same way.
   */
  public const HELPER_ENV = ['NODE_OPTIONS' => '--max-semi-space-size=4', 'MALLOC_ARENA_MAX' => '2'];

  /**
   * @var string
   */
  private $helperScript;

  /**
   * @var string
   */
  private $configuredNode;

  /**
   * @var string
   */
  private $searchPath;

  /**
   * @var string|null
   */
  private $node;

  /**
   * @var string|null
   */
  private $nodeVersion;

  /**
   * @param string $helperScript
   *   Absolute path of dist/civibackup.mjs.
   * @param string $configuredNode
   *   The civibackup_node_path setting; '' = find `node` on the PATH.
   * @param string|null $searchPath
   *   PATH to search and to give the helper; NULL = PHP's PATH (or a sane default).
   */
  public function __construct(string $helperScript, string $configuredNode = '', ?string $searchPath = NULL) {
    $this->helperScript = $helperScript;
    $this->configuredNode = trim($configuredNode);
    $path = $searchPath ?? (getenv('PATH') ?: '');
    $this->searchPath = $path === '' ? self::DEFAULT_PATH : $path;
  }

  /**
   * The node binary to use.
   *
   * @throws CRM_Civibackup_Error NODE_VERSION when there is none.
   */
  public function node(): string {
    if ($this->node !== NULL) {
      return $this->node;
    }
    if (!function_exists('proc_open') || !function_exists('proc_get_status')) {
      throw new CRM_Civibackup_Error('CONFIG', 'PHP\'s proc_open() is disabled on this server, so CiviBackup cannot start its helper.', 'Remove proc_open and proc_get_status from disable_functions in php.ini for the web server and the PHP command line.');
    }
    if ($this->configuredNode !== '') {
      $candidate = strpos($this->configuredNode, '/') === FALSE ? $this->which($this->configuredNode) : $this->configuredNode;
      if ($candidate === NULL || !is_file($candidate) || !is_executable($candidate)) {
        throw new CRM_Civibackup_Error('NODE_VERSION', "The configured node binary \"{$this->configuredNode}\" does not exist or is not executable.", 'Install Node.js 20 or newer and set the path of its node binary in the Backups settings, or leave the setting empty to use the node on the PATH.');
      }
      return $this->node = $candidate;
    }
    foreach (['node', 'nodejs'] as $name) {
      $found = $this->which($name);
      if ($found !== NULL) {
        return $this->node = $found;
      }
    }
    throw new CRM_Civibackup_Error('NODE_VERSION', "No node binary was found on the PATH ({$this->searchPath}).", 'Install Node.js 20 or newer, or set the path of its node binary in the Backups settings.');
  }

  /**
   * `node --version`, e.g. "v20.20.2".
   */
  public function nodeVersion(): string {
    if ($this->nodeVersion !== NULL) {
      return $this->nodeVersion;
    }
    $node = $this->node();
    $process = proc_open([$node, '--version'], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, NULL, ['PATH' => $this->searchPath]);
    if (!is_resource($process)) {
      throw new CRM_Civibackup_Error('NODE_VERSION', "Cannot run $node.", 'Check the node binary and its permissions.');
    }
    $out = trim((string) stream_get_contents($pipes[1]));
    fclose($pipes[1]);
    fclose($pipes[2]);
    $code = proc_close($process);
    if ($code !== 0 || !preg_match('/^v?(\d+)\.(\d+)\.(\d+)/', $out)) {
      throw new CRM_Civibackup_Error('NODE_VERSION', "$node --version failed (exit code $code).", 'Check that the node binary runs for the web server user.');
    }
    return $this->nodeVersion = $out;
  }

  /**
   * `civibackup --help`: the usage lines of the verbs this helper build knows.
   */
  public function helpText(): string {
    $process = proc_open([$this->node(), $this->helperScript, '--help'], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes, NULL, ['PATH' => $this->searchPath]);
    if (!is_resource($process)) {
      return '';
    }
    $out = (string) stream_get_contents($pipes[1]);
    fclose($pipes[1]);
    proc_close($process);
    return $out;
  }

  /**
   * Checks Node is 20 or newer; returns its version.
   *
   * @throws CRM_Civibackup_Error NODE_VERSION
   */
  public function checkNode(): string {
    $version = $this->nodeVersion();
    preg_match('/^v?(\d+)/', $version, $m);
    if ((int) $m[1] < self::MIN_NODE_MAJOR) {
      throw new CRM_Civibackup_Error('NODE_VERSION', sprintf('%s is Node.js %s; CiviBackup needs Node.js %d or newer.', $this->node(), $version, self::MIN_NODE_MAJOR), 'Install Node.js 20 or newer and set the path of its node binary in the Backups settings.');
    }
    return $version;
  }

  /**
   * The argv of a helper command. Refuses any secret value on it.
   *
   * @param string[] $args
   * @param string[] $secrets
   *   Environment values that must not appear on the command line.
   * @return string[]
   */
  public function command(array $args, array $secrets = []): array {
    $argv = array_merge([$this->node(), $this->helperScript], array_map('strval', $args), ['--json']);
    foreach ($secrets as $name => $value) {
      $value = (string) $value;
      if ($value === '') {
        continue;
      }
      foreach ($argv as $arg) {
        if (strpos($arg, $value) !== FALSE) {
          throw new CRM_Civibackup_Error('INTERNAL', "Refusing to put the value of $name on the helper's command line.", 'This is a bug in CiviBackup; please report it.');
        }
      }
    }
    return $argv;
  }

  /**
   * The helper's environment: PATH, a few pass-through variables, the memory settings
   * (HELPER_ENV), the run id, and the secrets.
   *
   * @param array $secrets
   *   Name => value, e.g. ['CIVIBACKUP_DSN' => 'mysql://...'].
   */
  public function environment(array $secrets, ?string $runId = NULL): array {
    $env = ['PATH' => $this->searchPath];
    foreach (self::PASS_THROUGH as $name) {
      $value = getenv($name);
      if (is_string($value) && $value !== '') {
        $env[$name] = $value;
      }
    }
    $env['LANG'] = $env['LANG'] ?? 'C.UTF-8';
    $env += self::HELPER_ENV;
    if ($runId !== NULL) {
      $env['CIVIBACKUP_RUN_ID'] = $runId;
    }
    foreach ($secrets as $name => $value) {
      if (!preg_match('/^[A-Z_][A-Z0-9_]*$/D', (string) $name) || strpos((string) $value, "\0") !== FALSE) {
        throw new CRM_Civibackup_Error('INTERNAL', "Invalid environment variable $name for the helper.", 'This is a bug in CiviBackup; please report it.');
      }
      $env[$name] = (string) $value;
    }
    return $env;
  }

  /**
   * Runs the helper and waits. Each event line goes to $eventsFile (when given) as it
   * arrives and to $onEvent; returns the final event. A helper that ends without one (a
   * crash, a kill) yields a synthesized `error` event carrying the end of its stderr.
   *
   * @param string[] $args
   * @param array $secrets
   * @param string|null $eventsFile
   * @param callable|null $onEvent
   *   fn(array $event): void
   * @param resource|null $lockHandle
   * @param callable|null $onStart
   *   fn(int $pid): void, called once the helper has started.
   */
  public function runAttached(array $args, array $secrets = [], ?string $eventsFile = NULL, ?callable $onEvent = NULL, $lockHandle = NULL, ?string $runId = NULL, ?string $stderrFile = NULL, ?callable $onStart = NULL): array {
    $argv = $this->command($args, $secrets);
    $env = $this->environment($secrets, $runId);
    $ownStderr = $stderrFile === NULL;
    $stderrFile = $stderrFile ?? (string) tempnam(sys_get_temp_dir(), 'civibackup-stderr-');
    $descriptors = [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['file', $stderrFile, 'a']];
    if ($lockHandle !== NULL) {
      $descriptors[3] = $lockHandle;
    }
    $process = proc_open($argv, $descriptors, $pipes, NULL, $env);
    if (!is_resource($process)) {
      throw new CRM_Civibackup_Error('INTERNAL', 'Cannot start the CiviBackup helper.', 'Check that node and dist/civibackup.mjs are readable by the web server user.');
    }
    if ($onStart !== NULL) {
      // The process id, so another request can cancel this run.
      $onStart((int) proc_get_status($process)['pid']);
    }
    $log = $eventsFile !== NULL ? fopen($eventsFile, 'a') : NULL;
    $final = NULL;
    $last = NULL;
    try {
      while (($line = fgets($pipes[1])) !== FALSE) {
        if ($log !== NULL) {
          fwrite($log, $line);
          fflush($log);
        }
        $event = CRM_Civibackup_EventLog::parseLine($line);
        if ($event === NULL) {
          continue;
        }
        $last = $event;
        if (CRM_Civibackup_EventLog::isFinal($event)) {
          $final = $event;
        }
        if ($onEvent !== NULL) {
          $onEvent($event);
        }
      }
    }
    finally {
      fclose($pipes[1]);
      if ($log !== NULL) {
        fclose($log);
      }
      $exitCode = proc_close($process);
    }
    if ($final === NULL) {
      $final = $this->crashEvent($exitCode, self::tail($stderrFile), $last, $runId);
      if ($eventsFile !== NULL) {
        file_put_contents($eventsFile, json_encode($final, JSON_UNESCAPED_SLASHES) . "\n", FILE_APPEND);
      }
    }
    if ($ownStderr) {
      @unlink($stderrFile);
    }
    return $final;
  }

  /**
   * Starts the helper in its own session and returns its process id without waiting.
   * Its stdout (the events) and stderr go straight to files in the run directory.
   *
   * @param resource|null $lockHandle
   */
  public function startDetached(array $args, array $secrets, string $eventsFile, string $stderrFile, $lockHandle = NULL, ?string $runId = NULL): int {
    $argv = $this->command($args, $secrets);
    $setsid = $this->which('setsid');
    if ($setsid !== NULL) {
      // Own session and process group: a web server restart or a signal to PHP's process
      // group does not take the backup down, and cancel can signal the helper's whole group.
      array_unshift($argv, $setsid);
    }
    $descriptors = [0 => ['file', '/dev/null', 'r'], 1 => ['file', $eventsFile, 'a'], 2 => ['file', $stderrFile, 'a']];
    if ($lockHandle !== NULL) {
      $descriptors[3] = $lockHandle;
    }
    $process = proc_open($argv, $descriptors, $pipes, NULL, $this->environment($secrets, $runId));
    if (!is_resource($process)) {
      throw new CRM_Civibackup_Error('INTERNAL', 'Cannot start the CiviBackup helper.', 'Check that node and dist/civibackup.mjs are readable by the web server user.');
    }
    $status = proc_get_status($process);
    // Not proc_close(): that would wait for the helper. Freeing the handle only polls
    // waitpid(WNOHANG), so the request can return while the helper keeps running.
    return (int) $status['pid'];
  }

  /**
   * True while $pid is a live (not zombie) process. Linux /proc; elsewhere posix_kill().
   */
  public static function isAlive(int $pid): bool {
    if ($pid <= 0) {
      return FALSE;
    }
    $stat = @file_get_contents("/proc/$pid/stat");
    if (is_string($stat)) {
      // "pid (comm) S ...": the state letter follows the last ')'.
      $state = substr(trim(substr($stat, (int) strrpos($stat, ')') + 1)), 0, 1);
      return $state !== 'Z' && $state !== 'X';
    }
    if (is_dir('/proc/self')) {
      return FALSE;
    }
    return function_exists('posix_kill') && posix_kill($pid, 0);
  }

  /**
   * Asks the helper (and its process group) to stop; it answers with a CANCELLED error event.
   */
  public static function terminate(int $pid): bool {
    if (!self::isAlive($pid)) {
      return FALSE;
    }
    if (function_exists('posix_kill')) {
      // Negative pid: the whole process group, which exists when setsid started it.
      return @posix_kill(-$pid, 15) || @posix_kill($pid, 15);
    }
    $process = proc_open(['kill', '-TERM', (string) $pid], [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']], $pipes);
    return is_resource($process) && proc_close($process) === 0;
  }

  private function crashEvent(int $exitCode, string $stderrTail, ?array $last, ?string $runId): array {
    $message = "The CiviBackup helper ended (exit code $exitCode) without reporting a result.";
    if ($stderrTail !== '') {
      $message .= ' Its last output: ' . $stderrTail;
    }
    return [
      'v' => CRM_Civibackup_EventLog::EVENT_VERSION,
      'seq' => ($last['seq'] ?? 0) + 1,
      'runId' => $last['runId'] ?? ($runId ?? ''),
      'time' => gmdate('Y-m-d\TH:i:s\Z'),
      'type' => 'error',
      'code' => 'INTERNAL',
      'message' => $message,
      'hint' => 'An unexpected error; please report it with the log.',
      'retryable' => FALSE,
      'exitCode' => $exitCode > 0 ? $exitCode : 1,
    ];
  }

  public static function tail(string $file, int $bytes = 1500): string {
    if (!is_file($file)) {
      return '';
    }
    $size = (int) filesize($file);
    $handle = fopen($file, 'r');
    if ($handle === FALSE) {
      return '';
    }
    if ($size > $bytes) {
      fseek($handle, -$bytes, SEEK_END);
    }
    $text = (string) stream_get_contents($handle);
    fclose($handle);
    return trim($text);
  }

  private function which(string $name): ?string {
    foreach (explode(PATH_SEPARATOR, $this->searchPath) as $dir) {
      if ($dir === '') {
        continue;
      }
      $candidate = rtrim($dir, '/') . '/' . $name;
      if (is_file($candidate) && is_executable($candidate)) {
        return $candidate;
      }
    }
    return NULL;
  }

}
