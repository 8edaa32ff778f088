<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * The ang module that delivers the Lit bundle and the page's boot data.
 */
final class AngModuleTest extends TestCase {

  public function testModuleListsTheBundleAndABootDataFactory(): void {
    $root = dirname(__DIR__, 2);
    $module = include $root . '/ang/civibackup.ang.php';
    $this->assertSame(['dist/ui/civibackup-ui.js'], $module['js']);
    $this->assertSame([], $module['basePages'], 'loaded only by the Backups page');
    $this->assertArrayNotHasKey('settings', $module, 'a non-empty settings key is deprecated; settingsFactory is used');
    [$class, $method] = $module['settingsFactory'];
    $this->assertTrue(method_exists($class, $method));
    $this->assertSame(json_decode((string) file_get_contents($root . '/package.json'), TRUE)['version'], CRM_Civibackup_BootData::version($root . '/info.xml'));
  }

  /**
   * Outside debug mode CiviCRM concatenates ang module scripts through
   * CRM_Utils_JS::stripComments(), which deletes every line that starts with "//". The
   * minified bundle must lose nothing but its source map comment. (The regex is copied
   * from civicrm-core CRM/Utils/JS.php.)
   */
  public function testBundleSurvivesCiviCrmCommentStripping(): void {
    $bundle = dirname(__DIR__, 2) . '/dist/ui/civibackup-ui.js';
    if (!is_file($bundle)) {
      $this->markTestSkipped('dist/ui/civibackup-ui.js is not built (run `npx rollup -c`).');
    }
    $script = (string) file_get_contents($bundle);
    preg_match_all("#^\\s*//[^\n]*$(?:\r\n|\n)?#m", $script, $matches);
    foreach ($matches[0] as $line) {
      $this->assertMatchesRegularExpression('~^//[#@] sourceMappingURL=~', trim($line), 'a line CiviCRM would strip');
    }
  }

}
