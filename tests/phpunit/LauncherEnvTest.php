<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * The launcher's environment, argv and Node check, with fake `node` scripts in a temp dir.
 */
final class LauncherEnvTest extends TestCase {

  /**
   * @var string
   */
  private $dir;

  protected function setUp(): void {
    $this->dir = TempDir::create('cbt_php_launcher_');
    mkdir($this->dir . '/bin');
  }

  protected function tearDown(): void {
    putenv('CIVIBACKUP_TEST_UNRELATED');
    TempDir::remove($this->dir);
  }

  private function fakeNode(string $version, string $extra = ''): string {
    return TempDir::script($this->dir . '/bin/node', "if [ \"\$1\" = \"--version\" ]; then echo $version; exit 0; fi\n$extra");
  }

  private function launcher(string $configured = ''): CRM_Civibackup_Launcher {
    return new CRM_Civibackup_Launcher($this->dir . '/helper.mjs', $configured, $this->dir . '/bin:/usr/bin:/bin');
  }

  public function testNode18IsRefusedWithAClearMessage(): void {
    $this->fakeNode('v18.0.0');
    try {
      $this->launcher()->checkNode();
      $this->fail('Node 18 accepted');
    }
    catch (CRM_Civibackup_Error $e) {
      $this->assertSame('NODE_VERSION', $e->getErrorCode());
      $this->assertStringContainsString('v18.0.0', $e->getMessage());
      $this->assertStringContainsString('needs Node.js 20 or newer', $e->getMessage());
      $this->assertStringContainsString('Backups settings', $e->getHint());
    }
  }

  public function testNode20IsAcceptedAndFoundOnThePath(): void {
    $node = $this->fakeNode('v20.11.1');
    $launcher = $this->launcher();
    $this->assertSame('v20.11.1', $launcher->checkNode());
    $this->assertSame($node, $launcher->node());
  }

  public function testConfiguredNodePathWinsAndAMissingOneIsAnError(): void {
    $this->fakeNode('v18.0.0');
    mkdir($this->dir . '/opt');
    $good = TempDir::script($this->dir . '/opt/node22', "echo v22.1.0\n");
    $this->assertSame('v22.1.0', $this->launcher($good)->checkNode());

    $this->expectException(CRM_Civibackup_Error::class);
    $this->expectExceptionMessage('does not exist or is not executable');
    $this->launcher($this->dir . '/opt/missing-node')->node();
  }

  public function testNoNodeAnywhere(): void {
    $launcher = new CRM_Civibackup_Launcher($this->dir . '/helper.mjs', '', $this->dir . '/bin');
    $this->expectException(CRM_Civibackup_Error::class);
    $this->expectExceptionMessage('No node binary was found');
    $launcher->node();
  }

  public function testEnvironmentCarriesSecretsAndNothingUnasked(): void {
    $this->fakeNode('v20.0.0');
    putenv('CIVIBACKUP_TEST_UNRELATED=web-server-secret');
    $env = $this->launcher()->environment(['CIVIBACKUP_DSN' => 'mysql://u:pw@h/d'], '20260101-000000-abcdef01');
    $this->assertSame('mysql://u:pw@h/d', $env['CIVIBACKUP_DSN']);
    $this->assertSame('20260101-000000-abcdef01', $env['CIVIBACKUP_RUN_ID']);
    $this->assertSame($this->dir . '/bin:/usr/bin:/bin', $env['PATH']);
    $this->assertArrayNotHasKey('CIVIBACKUP_TEST_UNRELATED', $env, 'the web server environment is not passed on wholesale');
    $this->assertSame('--max-semi-space-size=4', $env['NODE_OPTIONS'], 'the helper runs with a small young generation (memory of 1M-file backups)');
    $this->assertSame('2', $env['MALLOC_ARENA_MAX']);
  }

  public function testArgvHasNoSecretAndRefusesOne(): void {
    $this->fakeNode('v20.0.0');
    $launcher = $this->launcher();
    $argv = $launcher->command(['backup', '--job', '/tmp/job.json'], ['CIVIBACKUP_DSN' => 'mysql://u:pw@h/d']);
    $this->assertSame([$this->dir . '/bin/node', $this->dir . '/helper.mjs', 'backup', '--job', '/tmp/job.json', '--json'], $argv);
    $this->expectException(CRM_Civibackup_Error::class);
    $this->expectExceptionMessage('CIVIBACKUP_DSN');
    $launcher->command(['backup', '--db', 'mysql://u:pw@h/d'], ['CIVIBACKUP_DSN' => 'mysql://u:pw@h/d']);
  }

  /**
   * The real proc_open path: the child sees the secret in its environment, not in its argv.
   */
  public function testChildSeesSecretsInEnvironmentOnly(): void {
    $report = $this->dir . '/child.txt';
    $this->fakeNode('v20.0.0', <<<SH
{ echo "ARGV:\$*"; echo "DSN:\$CIVIBACKUP_DSN"; echo "RUN:\$CIVIBACKUP_RUN_ID"; echo "UNRELATED:\$CIVIBACKUP_TEST_UNRELATED"; } > '$report'
echo '{"v":1,"seq":1,"runId":"r","time":"t","type":"start","command":"list","toolVersion":"0"}'
echo 'a stray log line'
echo '{"v":1,"seq":2,"runId":"r","time":"t","type":"result","command":"list","summary":{"sets":[]}}'
SH);
    putenv('CIVIBACKUP_TEST_UNRELATED=web-server-secret');
    $seen = [];
    $events = $this->dir . '/events.ndjson';
    $final = $this->launcher()->runAttached(['list', '/x'], ['CIVIBACKUP_DSN' => 'mysql://u:Pw-123@h/d'], $events, function (array $e) use (&$seen): void {
      $seen[] = $e['type'];
    }, NULL, '20260101-000000-abcdef01');
    $this->assertSame('result', $final['type']);
    $this->assertSame(['start', 'result'], $seen);
    $this->assertCount(2, (new CRM_Civibackup_EventLog($events))->readAll());
    $child = (string) file_get_contents($report);
    $this->assertStringContainsString("DSN:mysql://u:Pw-123@h/d\n", $child);
    $this->assertStringContainsString("RUN:20260101-000000-abcdef01\n", $child);
    $this->assertStringContainsString("UNRELATED:\n", $child);
    $this->assertMatchesRegularExpression('#^ARGV:\S+/helper\.mjs list /x --json$#m', $child);
    $this->assertStringNotContainsString('Pw-123', explode("\n", $child)[0]);
  }

  public function testAHelperThatDiesWithoutResultYieldsAnErrorEvent(): void {
    $this->fakeNode('v20.0.0', "echo '{\"v\":1,\"seq\":1,\"runId\":\"r\",\"time\":\"t\",\"type\":\"start\",\"command\":\"backup\",\"toolVersion\":\"0\"}'\necho 'Segmentation fault' >&2\nexit 139\n");
    $events = $this->dir . '/events.ndjson';
    $final = $this->launcher()->runAttached(['backup'], [], $events);
    $this->assertSame('error', $final['type']);
    $this->assertSame('INTERNAL', $final['code']);
    $this->assertSame(2, $final['seq']);
    $this->assertStringContainsString('exit code 139', $final['message']);
    $this->assertStringContainsString('Segmentation fault', $final['message']);
    $this->assertSame($final, (new CRM_Civibackup_EventLog($events))->finalEvent(), 'the synthesized event is logged too');
  }

}
