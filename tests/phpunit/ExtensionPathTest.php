<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * The extension's main file loads its own civix file and classes, whatever the current
 * directory holds. A bare `require_once 'civibackup.civix.php'` is looked up through the
 * include path, which holds "." ahead of the extension's folder: run from a directory
 * holding another copy of the extension (its source tree, an older unpacked release), php-cli
 * loaded that copy's civix file, so E::path() and the helper it finds (dist/civibackup.mjs)
 * were the other copy's; and CiviCRM's core class loader, which finds CRM_* classes through
 * the include path, took that copy's classes too. That is how the end-to-end check of a
 * release zip without the helper still found one on WordPress: php-cli ran from the
 * project's work tree (the Standalone bootstrap changes into the site root first).
 */
final class ExtensionPathTest extends TestCase {

  private string $decoy = '';

  protected function setUp(): void {
    $this->decoy = sys_get_temp_dir() . '/civibackup-decoy-' . bin2hex(random_bytes(4));
    mkdir($this->decoy);
    file_put_contents($this->decoy . '/civibackup.civix.php', "<?php\nclass CRM_Civibackup_ExtensionUtil { public static function path(\$file = NULL) { return 'the decoy copy'; } }\n");
    mkdir($this->decoy . '/CRM/Civibackup', 0777, TRUE);
    file_put_contents($this->decoy . '/CRM/Civibackup/Helper.php', "<?php\nfinal class CRM_Civibackup_Helper {}\n");
  }

  protected function tearDown(): void {
    @unlink($this->decoy . '/civibackup.civix.php');
    @unlink($this->decoy . '/CRM/Civibackup/Helper.php');
    @rmdir($this->decoy . '/CRM/Civibackup');
    @rmdir($this->decoy . '/CRM');
    @rmdir($this->decoy);
  }

  public function testMainFileLoadsTheCivixFileBesideIt(): void {
    $this->assertSame(dirname(__DIR__, 2), $this->runBesideDecoy('echo CRM_Civibackup_ExtensionUtil::path();'), 'E::path() is the folder of the civibackup.php that was loaded, not a copy in the current directory');
  }

  public function testClassesComeFromThisFolderThroughTheIncludePath(): void {
    // CiviCRM's core class loader (CRM_Core_ClassLoader::loadClass) in short: CRM_* by the include path.
    $loader = 'spl_autoload_register(function ($class) { $file = strtr($class, "_", "/") . ".php"; if (stream_resolve_include_path($file)) require_once $file; });';
    $this->assertSame(dirname(__DIR__, 2) . '/CRM/Civibackup/Helper.php', $this->runBesideDecoy($loader . ' echo (new ReflectionClass("CRM_Civibackup_Helper"))->getFileName();'));
  }

  /**
   * Runs `$code` after loading civibackup.php, in a php-cli whose current directory holds a
   * decoy copy of the extension and whose include path is "." (as php-cli's default
   * starts); returns what it printed.
   */
  private function runBesideDecoy(string $code): string {
    $main = dirname(__DIR__, 2) . '/civibackup.php';
    $child = proc_open([PHP_BINARY, '-d', 'include_path=.', '-r', 'require ' . var_export($main, TRUE) . '; ' . $code], [0 => ['file', '/dev/null', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, $this->decoy);
    $this->assertIsResource($child);
    $out = (string) stream_get_contents($pipes[1]);
    $err = (string) stream_get_contents($pipes[2]);
    fclose($pipes[1]);
    fclose($pipes[2]);
    $this->assertSame(0, proc_close($child), $err);
    return $out;
  }

}
