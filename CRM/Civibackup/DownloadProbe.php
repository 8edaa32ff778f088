<?php
declare(strict_types = 1);

/**
 * Can a file in the backup destination be downloaded from the web? Asked for real, as
 * CiviCRM's own "files should not be downloadable" check does (CRM_Utils_Check_Component_
 * Security::isDirAccessible): a canary file with random content goes into the destination,
 * it is requested through the URL that maps to that path, and the destination is SERVED when
 * the answer is 200 with the canary's content. The canary is always removed.
 *
 * Whether an .htaccess protects a directory says nothing on nginx, which ignores it; only
 * asking the web server tells. Results are cached in a small JSON file (the state directory)
 * so the Backups page and System Status do not send a request on every load.
 */
final class CRM_Civibackup_DownloadProbe {

  /**
   * The web server answered 200 with the canary: anyone can download the sets.
   */
  public const SERVED = 'served';

  /**
   * The web server answered, but not with the canary (403, 404, a login page...).
   */
  public const NOT_SERVED = 'not-served';

  /**
   * The destination is not under the web root: there is no URL that maps to it.
   */
  public const OUTSIDE = 'outside-web-root';

  /**
   * The question could not be asked: no URL, the canary could not be written, the request
   * failed or timed out.
   */
  public const UNKNOWN = 'unknown';

  /**
   * How long a result is reused, in seconds, by state. SERVED is short so a fix shows soon
   * (a refusal always asks again anyway); NOT_SERVED is rechecked hourly because a changed
   * server configuration can expose the directory at any time.
   */
  public const CACHE_SECONDS = [
    self::SERVED => 300,
    self::NOT_SERVED => 3600,
    self::OUTSIDE => 0,
    self::UNKNOWN => 900,
  ];

  public const TIMEOUT_SECONDS = 5.0;

  /**
   * @var string|null
   */
  private $webRoot;

  /**
   * @var string|null
   */
  private $webRootUrl;

  /**
   * @var string|null
   */
  private $cacheFile;

  /**
   * @var callable
   *   fn(string $url, float $timeout): array{status: ?int, body: string, error: string}
   */
  private $fetch;

  /**
   * @var callable
   *   fn(): int
   */
  private $clock;

  /**
   * @param string|null $webRoot
   *   The directory the site's URL maps to ([cms.root]).
   * @param string|null $webRootUrl
   *   The absolute URL of $webRoot.
   * @param string|null $cacheFile
   *   Where results are kept; NULL: never cached.
   * @param callable|null $fetch
   *   The HTTP GET (default: self::httpGet).
   */
  public function __construct(?string $webRoot, ?string $webRootUrl, ?string $cacheFile, ?callable $fetch = NULL, ?callable $clock = NULL) {
    $this->webRoot = $webRoot !== NULL && $webRoot !== '' ? rtrim($webRoot, '/') : NULL;
    $this->webRootUrl = $webRootUrl !== NULL && $webRootUrl !== '' ? rtrim($webRootUrl, '/') : NULL;
    $this->cacheFile = $cacheFile;
    $this->fetch = $fetch ?? [self::class, 'httpGet'];
    $this->clock = $clock ?? 'time';
  }

  /**
   * The cached result for $destination when still fresh, else a new probe (then cached).
   *
   * @return array
   *   state (one of the constants), destination (real path), webRoot, url (the canary's URL
   *   pattern: the directory's URL), httpStatus (?int), reason (why UNKNOWN/NOT_SERVED, in
   *   English), checkedAt (unix time).
   */
  public function result(string $destination, bool $fresh = FALSE): array {
    $key = $this->cacheKey($destination);
    $now = (int) ($this->clock)();
    if (!$fresh) {
      $cached = $this->readCache()[$key] ?? NULL;
      if (is_array($cached) && isset($cached['state'], $cached['checkedAt'])
        && $now - (int) $cached['checkedAt'] < (self::CACHE_SECONDS[$cached['state']] ?? 0)) {
        return $cached;
      }
    }
    $result = $this->probe($destination);
    // Outside the web root costs nothing to tell again, and leaves no file behind.
    if ($result['state'] !== self::OUTSIDE) {
      $this->writeCache($key, $result);
    }
    return $result;
  }

  /**
   * Asks the web server now (no cache).
   */
  public function probe(string $destination): array {
    $real = realpath($destination) ?: rtrim($destination, '/');
    $root = $this->webRoot !== NULL ? (realpath($this->webRoot) ?: $this->webRoot) : NULL;
    $result = [
      'state' => self::UNKNOWN,
      'destination' => $real,
      'webRoot' => $root,
      'url' => NULL,
      'httpStatus' => NULL,
      'reason' => '',
      'checkedAt' => (int) ($this->clock)(),
    ];
    if ($root === NULL) {
      return ['state' => self::UNKNOWN, 'reason' => 'the web root of this site is not known'] + $result;
    }
    if (!CRM_Civibackup_JobBuilder::isInside($real, $root)) {
      return ['state' => self::OUTSIDE] + $result;
    }
    if ($this->webRootUrl === NULL) {
      return ['reason' => 'the URL of this site is not known'] + $result;
    }
    $result['url'] = self::urlFor($real, $root, $this->webRootUrl);
    if (PHP_SAPI === 'cli-server' && (int) getenv('PHP_CLI_SERVER_WORKERS') < 2) {
      // PHP's built-in server answers one request at a time: asking it from inside a request
      // waits for the timeout. CiviCRM skips its own check there for the same reason.
      return ['reason' => 'PHP\'s built-in web server (php -S) with one worker cannot answer a request while it handles this one; set PHP_CLI_SERVER_WORKERS=2 or more'] + $result;
    }
    if (!is_dir($real)) {
      return ['reason' => "the directory $real does not exist yet"] + $result;
    }
    $token = bin2hex(random_bytes(16));
    $name = 'civibackup-probe-' . bin2hex(random_bytes(8)) . '.txt';
    $canary = $real . '/' . $name;
    if (@file_put_contents($canary, "CiviBackup download probe $token\n", LOCK_EX) === FALSE) {
      return ['reason' => "a test file could not be written into $real"] + $result;
    }
    try {
      // Readable like any file the web server could serve; a set written with a narrower
      // mode may still be served by a server running as the same user as PHP.
      @chmod($canary, 0644);
      $response = ($this->fetch)($result['url'] . '/' . rawurlencode($name), self::TIMEOUT_SECONDS);
    }
    finally {
      @unlink($canary);
    }
    $result['httpStatus'] = $response['status'];
    if ($response['status'] === NULL) {
      return ['reason' => 'the request to ' . $result['url'] . '/ failed: ' . $response['error']] + $result;
    }
    if ($response['status'] === 200 && strpos($response['body'], $token) !== FALSE) {
      return ['state' => self::SERVED] + $result;
    }
    return ['state' => self::NOT_SERVED, 'reason' => 'HTTP ' . $response['status']] + $result;
  }

  /**
   * The web root and its URL: CiviCRM's [cms.root], or the web server's document root when
   * that lies above it (WordPress in a subfolder of the document root: what is beside
   * [cms.root] is still served). The document root's URL is [cms.root]'s URL without the
   * path between the two; when the URL does not end so, [cms.root] is kept.
   *
   * @return array
   *   [root, url]
   */
  public static function outermostWebRoot(string $cmsRoot, ?string $cmsUrl, ?string $documentRoot): array {
    $cmsRoot = rtrim($cmsRoot, '/');
    if ($documentRoot === NULL || trim($documentRoot) === '' || $cmsUrl === NULL) {
      return [$cmsRoot, $cmsUrl];
    }
    $realDoc = rtrim(realpath($documentRoot) ?: $documentRoot, '/');
    $realCms = rtrim(realpath($cmsRoot) ?: $cmsRoot, '/');
    if ($realDoc === '' || $realDoc === $realCms || !CRM_Civibackup_JobBuilder::isInside($realCms, $realDoc)) {
      return [$cmsRoot, $cmsUrl];
    }
    $between = substr($realCms, strlen($realDoc));
    $url = rtrim($cmsUrl, '/');
    $path = (string) parse_url($url, PHP_URL_PATH);
    $encoded = implode('/', array_map('rawurlencode', explode('/', $between)));
    foreach ([$between, $encoded] as $suffix) {
      if ($path !== '' && substr($path, -strlen($suffix)) === $suffix) {
        return [$realDoc, substr($url, 0, -strlen($suffix))];
      }
    }
    return [$cmsRoot, $cmsUrl];
  }

  /**
   * The URL that maps to $path under $root, each segment percent-encoded.
   */
  public static function urlFor(string $path, string $root, string $rootUrl): string {
    $relative = trim(substr(rtrim($path, '/'), strlen(rtrim($root, '/'))), '/');
    $segments = $relative === '' ? [] : array_map('rawurlencode', explode('/', $relative));
    return rtrim($rootUrl, '/') . ($segments ? '/' . implode('/', $segments) : '');
  }

  /**
   * GET $url following up to 3 redirects, reading at most 64 KiB: curl when PHP has it,
   * else PHP's http stream wrapper (needs allow_url_fopen).
   *
   * @return array
   *   status (?int: NULL when no HTTP answer), body, error.
   */
  public static function httpGet(string $url, float $timeout): array {
    return function_exists('curl_init') ? self::httpGetCurl($url, $timeout) : self::httpGetStream($url, $timeout);
  }

  public static function httpGetCurl(string $url, float $timeout): array {
    $body = '';
    $curl = curl_init($url);
    curl_setopt_array($curl, [
      CURLOPT_FOLLOWLOCATION => TRUE,
      CURLOPT_MAXREDIRS => 3,
      CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
      CURLOPT_CONNECTTIMEOUT_MS => (int) ($timeout * 1000),
      CURLOPT_TIMEOUT_MS => (int) ($timeout * 1000),
      CURLOPT_WRITEFUNCTION => function ($handle, string $chunk) use (&$body): int {
        $body .= $chunk;
        // Returning less than the chunk's length stops the transfer: 64 KiB is plenty.
        return strlen($body) > 65536 ? 0 : strlen($chunk);
      },
    ]);
    $ok = curl_exec($curl);
    $status = (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
    $error = $ok === FALSE ? curl_error($curl) : '';
    // No curl_close(): the handle is freed with $curl (PHP 8), and PHP 8.5 deprecates it.
    return ['status' => $status > 0 ? $status : NULL, 'body' => $body, 'error' => $error];
  }

  public static function httpGetStream(string $url, float $timeout): array {
    $context = stream_context_create(['http' => [
      'method' => 'GET',
      'timeout' => $timeout,
      'ignore_errors' => TRUE,
      'follow_location' => 1,
      'max_redirects' => 4,
    ]]);
    $error = '';
    set_error_handler(function (int $no, string $message) use (&$error): bool {
      $error = $message;
      return TRUE;
    });
    try {
      $stream = fopen($url, 'rb', FALSE, $context);
      $body = $stream !== FALSE ? (string) stream_get_contents($stream, 65536) : '';
      $headers = $stream !== FALSE ? (stream_get_meta_data($stream)['wrapper_data'] ?? []) : [];
      if ($stream !== FALSE) {
        fclose($stream);
      }
    }
    finally {
      restore_error_handler();
    }
    // With redirects followed, the wrapper lists every response's headers: the last status wins.
    $status = NULL;
    foreach ((array) $headers as $line) {
      if (preg_match('#^HTTP/\S+\s+(\d{3})#', (string) $line, $m)) {
        $status = (int) $m[1];
      }
    }
    return ['status' => $status, 'body' => $body, 'error' => $status === NULL ? ($error !== '' ? $error : 'no HTTP answer') : ''];
  }

  /**
   * Forgets every cached result (uninstall; a changed destination).
   */
  public function forget(): void {
    if ($this->cacheFile !== NULL) {
      @unlink($this->cacheFile);
    }
  }

  private function cacheKey(string $destination): string {
    return sha1((realpath($destination) ?: rtrim($destination, '/')) . "\n" . $this->webRoot . "\n" . $this->webRootUrl);
  }

  private function readCache(): array {
    if ($this->cacheFile === NULL || !is_file($this->cacheFile)) {
      return [];
    }
    $data = json_decode((string) @file_get_contents($this->cacheFile), TRUE);
    return is_array($data) ? $data : [];
  }

  /**
   * Keeps only this result: one destination is in use at a time.
   */
  private function writeCache(string $key, array $result): void {
    if ($this->cacheFile === NULL || (!is_dir(dirname($this->cacheFile)) && !@mkdir(dirname($this->cacheFile), 0700, TRUE))) {
      return;
    }
    $temp = $this->cacheFile . '.' . bin2hex(random_bytes(4)) . '.tmp';
    if (@file_put_contents($temp, json_encode([$key => $result], JSON_UNESCAPED_SLASHES)) !== FALSE) {
      @rename($temp, $this->cacheFile);
    }
    @unlink($temp);
  }

}
