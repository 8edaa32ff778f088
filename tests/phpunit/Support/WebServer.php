<?php
declare(strict_types = 1);

/**
 * A real web server for one test class, serving a document root on a free port of
 * 127.0.0.1: Debian's nginx (which ignores .htaccess files) or Debian's Apache 2.4 with
 * AllowOverride All (which obeys them). Each runs in the foreground from a configuration
 * written into its own temporary directory; stop() ends that process and its workers.
 *
 * Run as root (CI), nginx's workers run as root and Apache's (which refuses root) as
 * www-data, to whom the document root is handed (chownForServer), so file permissions do not
 * decide what is served: the site's files belong to the web server's user on a real host.
 */
final class WebServer {

  public const SERVER_USER = 'www-data';

  /**
   * @var resource
   */
  private $process;

  /**
   * @var string
   */
  private $dir;

  /**
   * @var int
   */
  public $port;

  /**
   * @var string
   */
  public $url;

  /**
   * @var string
   */
  public $name;

  private function __construct(string $name, string $dir, int $port) {
    $this->name = $name;
    $this->dir = $dir;
    $this->port = $port;
    $this->url = 'http://127.0.0.1:' . $port;
  }

  /**
   * @param string $serverBlockExtra
   *   More directives inside `server { }`, e.g. a deny rule.
   */
  public static function nginx(string $docroot, string $serverBlockExtra = ''): self {
    $binary = self::binary('nginx');
    $server = new self('nginx', TempDir::create('cbt_php_nginx_'), self::freePort());
    $d = $server->dir;
    // As root, nginx's workers may run as root: directories the test creates later (0700,
    // as CiviBackup creates them) are readable, as they are for a server running as PHP's user.
    $user = self::asRoot() ? 'user root root;' : '';
    file_put_contents("$d/nginx.conf", <<<CONF
daemon off;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
$user
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $d/client_body;
  proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi;
  uwsgi_temp_path $d/uwsgi;
  scgi_temp_path $d/scgi;
  server {
    listen 127.0.0.1:{$server->port};
    root $docroot;
    $serverBlockExtra
  }
}

CONF);
    $server->start([$binary, '-p', $d, '-e', "$d/error.log", '-c', "$d/nginx.conf"]);
    return $server;
  }

  /**
   * Apache 2.4 (prefork) with AllowOverride All on the document root.
   */
  public static function apache(string $docroot): self {
    $binary = self::binary('apache2');
    $server = new self('apache2', TempDir::create('cbt_php_apache_'), self::freePort());
    $d = $server->dir;
    $modules = '/usr/lib/apache2/modules';
    $user = self::asRoot() ? 'User ' . self::SERVER_USER . "\nGroup " . self::SERVER_USER : '';
    file_put_contents("$d/apache2.conf", <<<CONF
ServerName 127.0.0.1
Listen 127.0.0.1:{$server->port}
PidFile $d/httpd.pid
ErrorLog $d/error.log
DefaultRuntimeDir $d
Mutex file:$d default
LoadModule mpm_prefork_module $modules/mod_mpm_prefork.so
LoadModule authz_core_module $modules/mod_authz_core.so
StartServers 1
MinSpareServers 1
MaxSpareServers 2
$user
AccessFileName .htaccess
DocumentRoot "$docroot"
<Directory />
  AllowOverride None
  Require all denied
</Directory>
<Directory "$docroot">
  AllowOverride All
  Require all granted
</Directory>

CONF);
    $server->start([$binary, '-f', "$d/apache2.conf", '-DFOREGROUND']);
    return $server;
  }

  public function stop(): void {
    if (is_resource($this->process)) {
      // SIGTERM: nginx and Apache stop their workers and exit.
      proc_terminate($this->process, 15);
      $deadline = microtime(TRUE) + 10;
      while (proc_get_status($this->process)['running'] && microtime(TRUE) < $deadline) {
        usleep(50000);
      }
      proc_close($this->process);
    }
    TempDir::remove($this->dir);
  }

  /**
   * Hands $dir (and the directories above it up to /tmp) to the servers' user when the tests
   * run as root, as a site's files belong to the web server user on a real host.
   */
  public static function chownForServer(string $dir): void {
    if (!self::asRoot()) {
      return;
    }
    $iterator = new RecursiveIteratorIterator(new RecursiveDirectoryIterator($dir, FilesystemIterator::SKIP_DOTS), RecursiveIteratorIterator::SELF_FIRST);
    chown($dir, self::SERVER_USER);
    foreach ($iterator as $file) {
      chown($file->getPathname(), self::SERVER_USER);
    }
    for ($parent = dirname($dir); $parent !== '/' && $parent !== sys_get_temp_dir(); $parent = dirname($parent)) {
      chmod($parent, fileperms($parent) & 0777 | 0011);
    }
  }

  private static function asRoot(): bool {
    return function_exists('posix_geteuid') ? posix_geteuid() === 0 : trim((string) shell_exec('id -u')) === '0';
  }

  private static function binary(string $name): string {
    foreach (['/usr/sbin/', '/usr/bin/'] as $dir) {
      if (is_executable($dir . $name)) {
        return $dir . $name;
      }
    }
    throw new RuntimeException("$name is not installed: run scripts/setup-system.sh (it installs Debian's nginx and apache2 for these tests).");
  }

  private function start(array $command): void {
    // A session of its own: on SIGTERM Apache's prefork parent signals its whole process
    // group, which would otherwise be phpunit's. (setsid execs in place: the pid is the server's.)
    $this->process = proc_open(array_merge(['setsid'], $command), [0 => ['file', '/dev/null', 'r'], 1 => ['file', $this->dir . '/stdout.log', 'w'], 2 => ['file', $this->dir . '/stderr.log', 'w']], $pipes);
    $deadline = microtime(TRUE) + 20;
    while (!self::listening($this->port)) {
      if (microtime(TRUE) > $deadline || !proc_get_status($this->process)['running']) {
        $log = @file_get_contents($this->dir . '/stderr.log') . @file_get_contents($this->dir . '/error.log');
        $this->stop();
        throw new RuntimeException("{$this->name} did not start: $log");
      }
      usleep(50000);
    }
  }

  private static function freePort(): int {
    $socket = stream_socket_server('tcp://127.0.0.1:0');
    $name = stream_socket_get_name($socket, FALSE);
    fclose($socket);
    return (int) substr($name, strrpos($name, ':') + 1);
  }

  private static function listening(int $port): bool {
    $connection = @fsockopen('127.0.0.1', $port, $errno, $error, 0.2);
    if ($connection === FALSE) {
      return FALSE;
    }
    fclose($connection);
    return TRUE;
  }

}
