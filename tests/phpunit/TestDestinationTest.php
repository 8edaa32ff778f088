<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * Backup.testDestination end to end: CRM_Civibackup_BackupService runs the REAL built helper
 * (`civibackup test-destination`) through the Launcher against a real s3rver started here;
 * the secret travels in the environment only. Also the job it builds: only that destination.
 */
final class TestDestinationTest extends TestCase {

  private const BUCKET = 'offsite';

  /**
   * @var resource|null
   */
  private static $s3rver;

  /**
   * @var string
   */
  private static $s3Dir;

  /**
   * @var int
   */
  private static $port;

  /**
   * @var string
   */
  private $dir;

  /**
   * @var FakeCiviSeam
   */
  private $civi;

  /**
   * @var CRM_Civibackup_BackupService
   */
  private $service;

  public static function setUpBeforeClass(): void {
    $root = dirname(__DIR__, 2);
    HelperBundle::ensureBuilt();
    self::$port = self::freePort();
    self::$s3Dir = TempDir::create('cbt_php_testdest_s3_');
    // s3rver's own CLI, with the bucket created at startup.
    self::$s3rver = proc_open(
      ['node', $root . '/node_modules/s3rver/bin/s3rver.js', '-d', self::$s3Dir, '-a', '127.0.0.1', '-p', (string) self::$port, '-s', '--configure-bucket', self::BUCKET],
      [0 => ['file', '/dev/null', 'r'], 1 => ['file', self::$s3Dir . '.log', 'w'], 2 => ['file', self::$s3Dir . '.log', 'a']],
      $pipes,
      $root
    );
    $deadline = microtime(TRUE) + 60;
    while (!self::listening(self::$port)) {
      if (microtime(TRUE) > $deadline || !proc_get_status(self::$s3rver)['running']) {
        throw new RuntimeException('s3rver did not start: ' . @file_get_contents(self::$s3Dir . '.log'));
      }
      usleep(100000);
    }
  }

  public static function tearDownAfterClass(): void {
    if (self::$s3rver) {
      proc_terminate(self::$s3rver);
      proc_close(self::$s3rver);
    }
    TempDir::remove(self::$s3Dir);
    @unlink(self::$s3Dir . '.log');
  }

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_testdest_');
    $this->civi = new FakeCiviSeam($this->dir . '/private');
    $this->service = new CRM_Civibackup_BackupService($this->civi, dirname(__DIR__, 2));
  }

  protected function tearDown(): void {
    TempDir::remove($this->dir);
  }

  private static function freePort(): int {
    $socket = stream_socket_server('tcp://127.0.0.1:0');
    $name = stream_socket_get_name($socket, FALSE);
    fclose($socket);
    return (int) substr((string) $name, strrpos((string) $name, ':') + 1);
  }

  private static function listening(int $port): bool {
    $connection = @fsockopen('127.0.0.1', $port, $errno, $error, 1.0);
    if ($connection === FALSE) {
      return FALSE;
    }
    fclose($connection);
    return TRUE;
  }

  private function s3(array $options = [], string $secret = 'S3RVER'): array {
    return [
      'name' => 'offsite copy',
      'type' => 's3',
      'options' => $options + [
        'endpoint' => 'http://127.0.0.1:' . self::$port,
        'region' => 'us-east-1',
        'bucket' => self::BUCKET,
        'prefix' => 'site1',
        'accessKeyId' => 'S3RVER',
        'forcePathStyle' => '1',
      ],
      'secret' => $secret,
    ];
  }

  /**
   * Files under s3rver's directory whose path contains $needle.
   */
  private static function storedWith(string $needle): array {
    $found = [];
    $files = new RecursiveIteratorIterator(new RecursiveDirectoryIterator(self::$s3Dir, FilesystemIterator::SKIP_DOTS));
    foreach ($files as $file) {
      if (strpos($file->getPathname(), $needle) !== FALSE) {
        $found[] = $file->getPathname();
      }
    }
    return $found;
  }

  public function testTheJobHoldsOnlyThatDestinationAndTheSecretGoesToItsVariable(): void {
    $this->civi->settings['civibackup_offsite'] = json_encode([['name' => 'other', 'type' => 'sftp', 'options' => ['host' => 'h', 'username' => 'u', 'path' => '/p']]]);
    [$job, $secrets] = $this->service->testDestinationJob($this->s3([], 'typed-secret'));
    $this->assertSame(1, $job['version']);
    $this->assertSame('backup', $job['command']);
    $this->assertCount(1, $job['offsite']);
    $spec = $job['offsite'][0];
    $this->assertSame(['type' => 's3', 'name' => 'offsite copy', 'region' => 'us-east-1', 'bucket' => self::BUCKET, 'accessKeyId' => 'S3RVER', 'secretEnv' => 'CIVIBACKUP_OFFSITE_1_SECRET', 'endpoint' => 'http://127.0.0.1:' . self::$port, 'prefix' => 'site1', 'forcePathStyle' => TRUE], $spec);
    $this->assertSame(['CIVIBACKUP_OFFSITE_1_SECRET' => 'typed-secret'], $secrets);
    $this->assertStringNotContainsString('typed-secret', json_encode($job));
    $this->assertArrayNotHasKey('database', $job);
  }

  /**
   * The page's "Path-style addressing" box sends options.forcePathStyle "1"/"0"; saveConfig
   * stores it as text and the backup job carries it as a boolean for the helper's S3 client.
   */
  public function testPathStyleGoesFromSaveConfigIntoTheBackupJob(): void {
    $this->civi->directories['custom'] = $this->dir;
    $config = new CRM_Civibackup_Config($this->civi);
    $item = $this->s3(['forcePathStyle' => '1'], 'typed-secret');
    $this->assertSame([], $config->save(['destination' => $this->dir . '/sets', 'offsite' => [$item]]));
    $this->assertSame('1', $config->get(FALSE)['offsite'][0]['options']['forcePathStyle']);
    [$job, $secrets] = $this->service->backupJob('test');
    $this->assertTrue($job['offsite'][0]['forcePathStyle']);
    $this->assertSame('typed-secret', $secrets['CIVIBACKUP_OFFSITE_1_SECRET']);

    $this->assertSame([], $config->save(['offsite' => [$this->s3(['forcePathStyle' => '0'], '')]]));
    [$job] = $this->service->backupJob('test');
    $this->assertFalse($job['offsite'][0]['forcePathStyle']);
  }

  public function testAStoredSecretIsUsedWhenNoneIsTyped(): void {
    $this->civi->settings['civibackup_offsite_secrets'] = $this->civi->encryptSecret(json_encode(['offsite copy' => 'S3RVER']));
    $result = $this->service->testDestination($this->s3([], ''));
    $this->assertTrue($result['ok'], $result['message']);
    $this->assertMatchesRegularExpression('#^s3://offsite/site1 at http://127\.0\.0\.1:\d+: a probe object was written, read back, listed and removed in \d+ ms\.$#', $result['message']);
    $this->assertSame([], self::storedWith('civibackup-probe'), 'the probe object is removed');
  }

  public function testWithoutAnySecretNothingRunsAndTheMessageSaysWhatToDo(): void {
    $result = $this->service->testDestination($this->s3([], ''));
    $this->assertSame(['ok' => FALSE, 'message' => 'Enter the secret of the offsite destination "offsite copy" to test it.'], $result);
  }

  public function testAnUnknownAccessKeyIdFailsWithTheStepAndCauseButNotTheSecret(): void {
    $secret = 'wJalrXUtnFEMI-php-cbt-secret-K7MDENG';
    $jobFilesBefore = glob(sys_get_temp_dir() . '/civibackup-test-*') ?: [];
    $result = $this->service->testDestination($this->s3(['accessKeyId' => 'AKIANOSUCHKEYPHP0000'], $secret));
    $this->assertFalse($result['ok']);
    $this->assertStringContainsString('failed at step "write": the server refused the credentials', $result['message']);
    $this->assertStringNotContainsString($secret, $result['message']);
    $this->assertSame([], array_values(array_diff(glob(sys_get_temp_dir() . '/civibackup-test-*') ?: [], $jobFilesBefore)), 'the job file is removed');
  }

  public function testARefusedConnectionIsReported(): void {
    $result = $this->service->testDestination($this->s3(['endpoint' => 'http://127.0.0.1:' . self::freePort()]));
    $this->assertFalse($result['ok']);
    $this->assertStringContainsString('the server could not be reached', $result['message']);
    $this->assertStringContainsString('ECONNREFUSED', $result['message']);
  }

}
