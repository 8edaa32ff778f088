<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * The download probe against REAL web servers started here (tests/phpunit/Support/
 * WebServer.php): Debian's nginx, which ignores the deny-all .htaccess CiviBackup writes, so
 * the sets are served; nginx with the deny rule the error message gives; and Debian's Apache
 * 2.4 with AllowOverride All, which obeys the .htaccess. FakeCiviSeam stands in for CiviCRM
 * (settings, paths); the HTTP requests, files and servers are real.
 */
final class DownloadProbeTest extends TestCase {

  /**
   * @var string
   */
  private static $base;

  /**
   * @var string
   *   The document root both servers serve.
   */
  private static $webRoot;

  /**
   * @var string
   *   [civicrm.private]/civibackup/sets inside the web root, with CiviBackup's .htaccess.
   */
  private static $destination;

  /**
   * @var WebServer
   */
  private static $nginx;

  /**
   * @var WebServer
   */
  private static $apache;

  /**
   * @var FakeCiviSeam
   */
  private $civi;

  /**
   * @var int
   */
  private $requests = 0;

  public static function setUpBeforeClass(): void {
    self::$base = TempDir::create('cbt_php_probe_');
    self::$webRoot = self::$base . '/web';
    self::$destination = self::$webRoot . '/private/civibackup/sets';
    mkdir(self::$webRoot . '/open', 0755, TRUE);
    (new CRM_Civibackup_DestinationSafety(new FakeCiviSeam(self::$webRoot . '/private')))->ensureDestination(self::$destination);
    WebServer::chownForServer(self::$webRoot);
    self::$nginx = WebServer::nginx(self::$webRoot);
    self::$apache = WebServer::apache(self::$webRoot);
  }

  public static function tearDownAfterClass(): void {
    foreach ([self::$nginx, self::$apache] as $server) {
      if ($server !== NULL) {
        $server->stop();
      }
    }
    TempDir::remove(self::$base);
  }

  protected function setUp(): void {
    $this->civi = new FakeCiviSeam(self::$webRoot . '/private');
    $this->civi->webRoot = self::$webRoot;
    $this->civi->webRootUrl = self::$nginx->url;
    @unlink(self::$webRoot . '/private/civibackup/' . CRM_Civibackup_DestinationSafety::PROBE_CACHE_FILE);
  }

  private function probe(WebServer $server, ?callable $fetch = NULL, ?callable $clock = NULL, ?string $cacheFile = NULL): CRM_Civibackup_DownloadProbe {
    $fetch = $fetch ?? [CRM_Civibackup_DownloadProbe::class, 'httpGet'];
    return new CRM_Civibackup_DownloadProbe(self::$webRoot, $server->url, $cacheFile, function (string $url, float $timeout) use ($fetch): array {
      $this->requests++;
      return $fetch($url, $timeout);
    }, $clock);
  }

  /**
   * Only what CiviBackup put there: the canary never stays behind.
   */
  private function assertNoCanaryLeft(string $dir): void {
    $this->assertSame(['.htaccess'], array_values(array_diff(scandir($dir), ['.', '..'])));
  }

  public function testNginxServesTheDestinationDespiteItsHtaccessOverCurlAndPhpStreams(): void {
    $this->assertFileExists(self::$destination . '/.htaccess');
    foreach (['httpGetCurl', 'httpGetStream'] as $transport) {
      $result = $this->probe(self::$nginx, [CRM_Civibackup_DownloadProbe::class, $transport])->probe(self::$destination);
      $this->assertSame(CRM_Civibackup_DownloadProbe::SERVED, $result['state'], $transport . ': ' . $result['reason']);
      $this->assertSame(200, $result['httpStatus']);
      $this->assertSame(self::$nginx->url . '/private/civibackup/sets', $result['url']);
      $this->assertNoCanaryLeft(self::$destination);
    }
  }

  public function testApacheObeysTheHtaccessAndServesTheSameDirectoryWithoutIt(): void {
    $result = $this->probe(self::$apache)->probe(self::$destination);
    $this->assertSame(CRM_Civibackup_DownloadProbe::NOT_SERVED, $result['state']);
    $this->assertSame(403, $result['httpStatus']);
    $this->assertNoCanaryLeft(self::$destination);
    // The control: a directory without the .htaccess is served by the same Apache, so the
    // 403 above is the .htaccess at work, not permissions or configuration.
    $open = $this->probe(self::$apache)->probe(self::$webRoot . '/open');
    $this->assertSame(CRM_Civibackup_DownloadProbe::SERVED, $open['state'], $open['reason']);
    $this->assertSame([], array_values(array_diff(scandir(self::$webRoot . '/open'), ['.', '..'])));
  }

  public function testServedDestinationIsAnErrorOnSystemStatusWithBothFixes(): void {
    $messages = $this->statusMessages();
    $this->assertSame('error', $messages['civibackupDestinationDownloadable']['level']);
    $text = $messages['civibackupDestinationDownloadable']['message'];
    $this->assertStringContainsString('can be downloaded from the web', $text);
    $this->assertStringContainsString(self::$nginx->url . '/private/civibackup/sets/', $text);
    $this->assertStringContainsString('location ^~ /private/civibackup/sets/ { deny all; }', $text);
    $this->assertStringContainsString('<Directory "' . realpath(self::$destination) . '"> Require all denied </Directory>', $text);
    $this->assertStringContainsString(dirname(realpath(self::$webRoot)) . '/civibackup-backups/web', $text);
    $this->assertArrayNotHasKey('civibackupDestinationInWebRoot', $messages);
    $this->assertNoCanaryLeft(self::$destination);
  }

  public function testApacheDenyingIsANoticeNotAnError(): void {
    $this->civi->webRootUrl = self::$apache->url;
    $messages = $this->statusMessages();
    $this->assertArrayNotHasKey('civibackupDestinationDownloadable', $messages);
    $this->assertSame('notice', $messages['civibackupDestinationInWebRoot']['level']);
    $this->assertStringContainsString('HTTP 403', $messages['civibackupDestinationInWebRoot']['message']);
  }

  public function testTheNginxRuleTheMessageGivesStopsTheDownload(): void {
    $served = $this->probe(self::$nginx)->probe(self::$destination);
    $denying = WebServer::nginx(self::$webRoot, CRM_Civibackup_DestinationSafety::nginxDenySnippet($served));
    try {
      $result = $this->probe($denying)->probe(self::$destination);
      $this->assertSame(CRM_Civibackup_DownloadProbe::NOT_SERVED, $result['state']);
      $this->assertSame(403, $result['httpStatus']);
      // Only that directory: the rest of the site is still served.
      $this->assertSame(CRM_Civibackup_DownloadProbe::SERVED, $this->probe($denying)->probe(self::$webRoot . '/open')['state']);
    }
    finally {
      $denying->stop();
    }
  }

  public function testBackupsFromThePageAndTheJobAreRefusedWhileServed(): void {
    HelperBundle::ensureBuilt();
    $service = new CRM_Civibackup_BackupService($this->civi, dirname(__DIR__, 2));
    $this->civi->settings['civibackup_destination'] = self::$destination;
    foreach ([TRUE, FALSE] as $async) {
      try {
        $service->runBackup($async, $async ? 'page' : 'cron');
        $this->fail('A backup into a served destination was started.');
      }
      catch (CRM_Civibackup_Error $e) {
        $this->assertSame('CONFIG', $e->getErrorCode());
        $this->assertStringContainsString('no backup is written there', $e->getMessage());
        $this->assertStringContainsString('Choose a destination outside the web root', $e->getHint());
      }
    }
    $this->assertNoCanaryLeft(self::$destination);
    $this->assertSame([], $service->runs()->list(), "No run was started.");
    // The same service with the server denying it starts the run (it fails later without a
    // database, which is not this test's concern): the refusal follows the web server.
    $this->civi->webRootUrl = self::$apache->url;
    $service = new CRM_Civibackup_BackupService($this->civi, dirname(__DIR__, 2));
    $service->safety()->refuseIfDownloadable(self::$destination);
    $this->addToAssertionCount(1);
  }

  public function testSavingAServedDestinationIsRefusedAndOthersAreSaved(): void {
    $safety = new CRM_Civibackup_DestinationSafety($this->civi);
    $config = new CRM_Civibackup_Config($this->civi);
    $check = function (string $path) use ($safety): ?CRM_Civibackup_Error {
      return $safety->downloadableErrorFor($path);
    };
    $before = $this->civi->settings['civibackup_destination'];
    $newInside = self::$webRoot . '/backups-here';
    $errors = $config->save(['destination' => $newInside], $check);
    $this->assertStringContainsString('can be downloaded from the web', $errors['destination'] ?? '');
    $this->assertStringContainsString('location ^~ /backups-here/ { deny all; }', $errors['destination']);
    $this->assertSame($before, $this->civi->settings['civibackup_destination']);
    $this->assertSame(['.htaccess'], array_values(array_diff(scandir($newInside), ['.', '..'])));

    $outside = self::$base . '/outside';
    $this->assertSame([], $config->save(['destination' => $outside], $check));
    $this->assertSame($outside, $this->civi->settings['civibackup_destination']);
    $this->assertDirectoryDoesNotExist($outside, 'A destination outside the web root is not created on save.');
  }

  public function testResultsAreCachedAndACachedServedIsAskedAgainBeforeARefusal(): void {
    $now = 1795000000;
    $clock = function () use (&$now): int {
      return $now;
    };
    $cache = self::$base . '/probe-cache.json';
    $probe = $this->probe(self::$nginx, NULL, $clock, $cache);
    $this->assertSame(CRM_Civibackup_DownloadProbe::SERVED, $probe->result(self::$destination)['state']);
    $this->assertSame(CRM_Civibackup_DownloadProbe::SERVED, $probe->result(self::$destination)['state']);
    $this->assertSame(1, $this->requests, 'The second look within the cache time sends no request.');
    // A new instance (the next page load) reads the same cache.
    $this->assertSame(CRM_Civibackup_DownloadProbe::SERVED, $this->probe(self::$nginx, NULL, $clock, $cache)->result(self::$destination)['state']);
    $this->assertSame(1, $this->requests);
    $now += CRM_Civibackup_DownloadProbe::CACHE_SECONDS[CRM_Civibackup_DownloadProbe::SERVED];
    $probe->result(self::$destination);
    $this->assertSame(2, $this->requests, 'An expired result is asked again.');
    $safety = new CRM_Civibackup_DestinationSafety($this->civi, $probe);
    try {
      $safety->refuseIfDownloadable(self::$destination);
      $this->fail('Not refused.');
    }
    catch (CRM_Civibackup_Error $e) {
      $this->assertSame(3, $this->requests, 'A cached "served" is confirmed before refusing.');
    }
    $this->assertNoCanaryLeft(self::$destination);
  }

  public function testOutsideTheWebRootSendsNoRequest(): void {
    $outside = self::$base . '/elsewhere';
    mkdir($outside);
    $cache = self::$base . '/outside-cache/probe.json';
    $probe = new CRM_Civibackup_DownloadProbe(self::$webRoot, self::$nginx->url, $cache, function (): array {
      throw new LogicException('No request for a destination outside the web root.');
    });
    $this->assertSame(CRM_Civibackup_DownloadProbe::OUTSIDE, $probe->result($outside)['state']);
    $this->assertSame([], array_values(array_diff(scandir($outside), ['.', '..'])));
    $this->assertFileDoesNotExist($cache, 'Nothing is cached (or created) for a destination outside the web root.');
  }

  public function testAServerThatDoesNotAnswerIsUnknownAndTheHtaccessDecidesTheLevel(): void {
    $closed = WebServer::nginx(self::$webRoot);
    $url = $closed->url;
    $closed->stop();
    $this->civi->webRootUrl = $url;
    $started = microtime(TRUE);
    $messages = $this->statusMessages();
    $this->assertLessThan(CRM_Civibackup_DownloadProbe::TIMEOUT_SECONDS + 1, microtime(TRUE) - $started);
    $this->assertSame('warning', $messages['civibackupDestinationInWebRoot']['level']);
    $this->assertStringContainsString('could not check whether files there can be downloaded', $messages['civibackupDestinationInWebRoot']['message']);
    $this->assertStringContainsString($url . '/private/civibackup/sets/ failed', $messages['civibackupDestinationInWebRoot']['message']);
    $this->assertNoCanaryLeft(self::$destination);
  }

  public function testUrlsAreEncodedPerSegment(): void {
    $this->assertSame('https://example.org/site/a%20b/%C3%A9', CRM_Civibackup_DownloadProbe::urlFor('/var/www/a b/é', '/var/www', 'https://example.org/site/'));
    $this->assertSame('https://example.org', CRM_Civibackup_DownloadProbe::urlFor('/var/www', '/var/www', 'https://example.org'));
  }

  public function testTheDocumentRootAboveCmsRootIsTheWebRoot(): void {
    $sub = self::$webRoot . '/open';
    // WordPress in /open of the document root: its URL ends with /open.
    $this->assertSame([realpath(self::$webRoot), 'https://example.org'], CRM_Civibackup_DownloadProbe::outermostWebRoot($sub, 'https://example.org/open/', self::$webRoot));
    // The same folder, the URL not mapping (a virtual host on the subfolder): [cms.root] kept.
    $this->assertSame([$sub, 'https://wp.example.org'], CRM_Civibackup_DownloadProbe::outermostWebRoot($sub, 'https://wp.example.org', self::$webRoot));
    $this->assertSame([$sub, 'https://example.org/open'], CRM_Civibackup_DownloadProbe::outermostWebRoot($sub, 'https://example.org/open', NULL));
    $this->assertSame([self::$webRoot, 'https://example.org'], CRM_Civibackup_DownloadProbe::outermostWebRoot(self::$webRoot, 'https://example.org', self::$webRoot . '/open'));
    // And the probe through the derived root finds the served folder beside [cms.root].
    [$root, $url] = CRM_Civibackup_DownloadProbe::outermostWebRoot($sub, self::$nginx->url . '/open', self::$webRoot);
    $beside = self::$webRoot . '/civibackup-backups/open';
    mkdir($beside, 0700, TRUE);
    try {
      $this->assertSame(CRM_Civibackup_DownloadProbe::SERVED, (new CRM_Civibackup_DownloadProbe($root, $url, NULL))->probe($beside)['state']);
      $this->assertSame(CRM_Civibackup_DownloadProbe::OUTSIDE, (new CRM_Civibackup_DownloadProbe($sub, self::$nginx->url . '/open', NULL))->probe($beside)['state']);
    }
    finally {
      TempDir::remove(self::$webRoot . '/civibackup-backups');
    }
  }

  private function statusMessages(): array {
    $checks = new CRM_Civibackup_StatusChecks($this->civi, function (): array {
      return [];
    }, function (): string {
      return 'v20.0.0';
    }, self::$destination);
    $byName = [];
    foreach ($checks->evaluate() as $message) {
      $byName[$message['name']] = $message;
    }
    return $byName;
  }

}
