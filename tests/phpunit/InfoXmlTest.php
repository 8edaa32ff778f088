<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

final class InfoXmlTest extends TestCase {

  public function testVersionMatchesPackageJson(): void {
    $root = dirname(__DIR__, 2);
    $info = simplexml_load_file($root . '/info.xml');
    $package = json_decode((string) file_get_contents($root . '/package.json'), TRUE);
    $this->assertSame($package['version'], (string) $info->version);
    $this->assertSame('civibackup', (string) $info['key']);
    $this->assertSame('AGPL-3.0', (string) $info->license);
  }

}
