<?php
declare(strict_types = 1);

/**
 * A database DSN as CiviCRM writes it (CIVICRM_DSN), parsed the way PEAR's DB::parseDSN()
 * does (civicrm-packages DB.php), so PHP and CiviCRM agree on every field:
 *   mysql://user:pass@host:3306/db?new_link=true
 *   mysqli://user:p%40ss@unix(/run/mysqld/mysqld.sock)/db
 * User name, password, socket/host and database are URL-decoded; query parameters become
 * options (they never overwrite a parsed field).
 *
 * The DSN string itself is handed to the helper through an environment variable; PHP parses
 * it only to compare databases and to derive the scratch database for a deep verify.
 */
final class CRM_Civibackup_Dsn {

  /**
   * @var array
   *   phptype, dbsyntax, username, password, protocol, hostspec, port, socket, database
   *   (FALSE when absent, as in DB::parseDSN), plus query options.
   */
  private $parts;

  private function __construct(array $parts) {
    $this->parts = $parts;
  }

  public static function parse(string $dsn): self {
    $parsed = [
      'phptype' => FALSE,
      'dbsyntax' => FALSE,
      'username' => FALSE,
      'password' => FALSE,
      'protocol' => FALSE,
      'hostspec' => FALSE,
      'port' => FALSE,
      'socket' => FALSE,
      'database' => FALSE,
    ];
    if (($pos = strpos($dsn, '://')) !== FALSE) {
      $scheme = substr($dsn, 0, $pos);
      $rest = substr($dsn, $pos + 3);
    }
    else {
      $scheme = $dsn;
      $rest = '';
    }
    // phptype(dbsyntax)
    if (preg_match('|^(.+?)\((.*?)\)$|', $scheme, $m)) {
      $parsed['phptype'] = $m[1];
      $parsed['dbsyntax'] = $m[2] === '' ? $m[1] : $m[2];
    }
    else {
      $parsed['phptype'] = $scheme;
      $parsed['dbsyntax'] = $scheme;
    }
    if ($rest === '') {
      return new self($parsed);
    }

    // username:password@ (the LAST '@', so a password may contain '@'; the FIRST ':', so it may contain ':')
    if (($at = strrpos($rest, '@')) !== FALSE) {
      $credentials = substr($rest, 0, $at);
      $rest = substr($rest, $at + 1);
      if (($colon = strpos($credentials, ':')) !== FALSE) {
        $parsed['username'] = rawurldecode(substr($credentials, 0, $colon));
        $parsed['password'] = rawurldecode(substr($credentials, $colon + 1));
      }
      else {
        $parsed['username'] = rawurldecode($credentials);
      }
    }

    $protocol = '';
    $protocolOptions = '';
    if (preg_match('|^([^(]+)\((.*?)\)/?(.*?)$|', $rest, $m)) {
      // proto(proto_opts)/database, e.g. unix(/run/mysqld/mysqld.sock)/civicrm
      $protocol = $m[1];
      $protocolOptions = $m[2];
      $rest = $m[3];
    }
    else {
      // [protocol+]hostspec[:port]/database
      if (strpos($rest, '+') !== FALSE) {
        [$protocol, $rest] = explode('+', $rest, 2);
      }
      if (strpos($rest, '/') !== FALSE) {
        [$protocolOptions, $rest] = explode('/', $rest, 2);
      }
      else {
        $protocolOptions = $rest;
        $rest = '';
      }
    }
    $parsed['protocol'] = $protocol !== '' ? $protocol : 'tcp';
    $protocolOptions = rawurldecode($protocolOptions);
    if (strpos($protocolOptions, ':') !== FALSE) {
      [$protocolOptions, $port] = explode(':', $protocolOptions, 2);
      $parsed['port'] = $port;
    }
    if ($parsed['protocol'] === 'tcp') {
      $parsed['hostspec'] = $protocolOptions;
    }
    elseif ($parsed['protocol'] === 'unix') {
      $parsed['socket'] = $protocolOptions;
    }

    if ($rest !== '') {
      if (($q = strpos($rest, '?')) === FALSE) {
        $parsed['database'] = rawurldecode($rest);
      }
      else {
        $parsed['database'] = rawurldecode(substr($rest, 0, $q));
        foreach (explode('&', substr($rest, $q + 1)) as $option) {
          if ($option === '') {
            continue;
          }
          [$key, $value] = array_pad(explode('=', $option, 2), 2, '');
          if (!array_key_exists($key, $parsed)) {
            $parsed[$key] = rawurldecode($value);
          }
        }
      }
    }
    return new self($parsed);
  }

  /**
   * Same array as DB::parseDSN() returns.
   */
  public function toArray(): array {
    return $this->parts;
  }

  public function database(): ?string {
    return $this->parts['database'] === FALSE || $this->parts['database'] === '' ? NULL : (string) $this->parts['database'];
  }

  public function username(): ?string {
    return $this->parts['username'] === FALSE ? NULL : (string) $this->parts['username'];
  }

  public function password(): ?string {
    return $this->parts['password'] === FALSE ? NULL : (string) $this->parts['password'];
  }

  public function host(): ?string {
    return $this->parts['hostspec'] === FALSE || $this->parts['hostspec'] === '' ? NULL : (string) $this->parts['hostspec'];
  }

  public function port(): ?int {
    return $this->parts['port'] === FALSE || $this->parts['port'] === '' ? NULL : (int) $this->parts['port'];
  }

  public function socket(): ?string {
    return $this->parts['socket'] === FALSE || $this->parts['socket'] === '' ? NULL : (string) $this->parts['socket'];
  }

  /**
   * Query options (new_link, ssl, ca, ...): everything beyond the standard fields.
   */
  public function options(): array {
    return array_diff_key($this->parts, array_flip(['phptype', 'dbsyntax', 'username', 'password', 'protocol', 'hostspec', 'port', 'socket', 'database']));
  }

  /**
   * True when both name the same database on the same server (a logging DSN that only
   * repeats the main DSN is not a separate logging database).
   */
  public function sameDatabaseAs(self $other): bool {
    return $this->database() === $other->database()
      && $this->socket() === $other->socket()
      && strtolower((string) $this->host()) === strtolower((string) $other->host())
      && ($this->port() ?? 3306) === ($other->port() ?? 3306);
  }

  /**
   * Whether $name can be a database CiviBackup creates or names on the command line
   * (scratch, staging, a new database for a restore): letters, digits, _ and $, at most 64.
   */
  public static function isDatabaseName(string $name): bool {
    return (bool) preg_match('/^[A-Za-z0-9_$]{1,64}$/D', $name);
  }

  /**
   * A copy naming another database on the same server with the same credentials
   * (the scratch database of a deep verify).
   */
  public function withDatabase(string $database): self {
    $parts = $this->parts;
    $parts['database'] = $database;
    return new self($parts);
  }

  /**
   * Back to DSN text, encoding what DB::parseDSN() decodes.
   */
  public function toString(): string {
    $p = $this->parts;
    $dsn = $p['phptype'] !== $p['dbsyntax'] && $p['dbsyntax'] !== FALSE ? "{$p['phptype']}({$p['dbsyntax']})" : (string) $p['phptype'];
    $dsn .= '://';
    if ($p['username'] !== FALSE) {
      $dsn .= rawurlencode((string) $p['username']);
      if ($p['password'] !== FALSE) {
        $dsn .= ':' . rawurlencode((string) $p['password']);
      }
      $dsn .= '@';
    }
    if ($p['protocol'] === 'unix') {
      $dsn .= 'unix(' . $p['socket'] . ')';
    }
    else {
      if ($p['protocol'] !== FALSE && $p['protocol'] !== 'tcp') {
        $dsn .= $p['protocol'] . '+';
      }
      $dsn .= rawurlencode((string) $p['hostspec']);
      if ($p['port'] !== FALSE && $p['port'] !== '') {
        $dsn .= ':' . $p['port'];
      }
    }
    $dsn .= '/' . rawurlencode((string) $p['database']);
    $options = $this->options();
    if ($options) {
      $pairs = [];
      foreach ($options as $key => $value) {
        $pairs[] = $key . '=' . rawurlencode((string) $value);
      }
      $dsn .= '?' . implode('&', $pairs);
    }
    return $dsn;
  }

}
