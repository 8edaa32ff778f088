<?php
declare(strict_types = 1);

use PHPUnit\Framework\TestCase;

/**
 * CRM_Civibackup_Dsn parses as PEAR DB::parseDSN() (civicrm-packages DB.php) does.
 */
final class DsnTest extends TestCase {

  public function testCiviCrmDefaultForm(): void {
    $dsn = CRM_Civibackup_Dsn::parse('mysql://civi_user:s3cret@db.example.org:3307/civicrm_prod?new_link=true');
    $this->assertSame([
      'phptype' => 'mysql',
      'dbsyntax' => 'mysql',
      'username' => 'civi_user',
      'password' => 's3cret',
      'protocol' => 'tcp',
      'hostspec' => 'db.example.org',
      'port' => '3307',
      'socket' => FALSE,
      'database' => 'civicrm_prod',
      'new_link' => 'true',
    ], $dsn->toArray());
    $this->assertSame(3307, $dsn->port());
    $this->assertSame(['new_link' => 'true'], $dsn->options());
  }

  public function testUrlEncodedCredentialsAreDecoded(): void {
    // A password with @ : / ? # % and a space, encoded as CiviCRM's installer writes it.
    $password = 'p@ss:w/rd?#% x';
    $dsn = CRM_Civibackup_Dsn::parse('mysqli://us%40er:' . rawurlencode($password) . '@localhost/civi');
    $this->assertSame('us@er', $dsn->username());
    $this->assertSame($password, $dsn->password());
    $this->assertSame('localhost', $dsn->host());
    $this->assertNull($dsn->port());
    $this->assertSame('civi', $dsn->database());
  }

  public function testUnencodedAtAndColonInPasswordUseLastAtAndFirstColon(): void {
    $dsn = CRM_Civibackup_Dsn::parse('mysql://user:pa:ss@word@host/db');
    $this->assertSame('user', $dsn->username());
    $this->assertSame('pa:ss@word', $dsn->password());
    $this->assertSame('host', $dsn->host());
  }

  public function testUnixSocket(): void {
    $dsn = CRM_Civibackup_Dsn::parse('mysql://civi:pw@unix(/run/mysqld/mysqld.sock)/civicrm?new_link=true');
    $this->assertSame('unix', $dsn->toArray()['protocol']);
    $this->assertSame('/run/mysqld/mysqld.sock', $dsn->socket());
    $this->assertNull($dsn->host());
    $this->assertSame('civicrm', $dsn->database());
  }

  public function testSslOptionsAndNoOverwriteOfParsedFields(): void {
    $dsn = CRM_Civibackup_Dsn::parse('mysql://u:p@h/db?ssl=1&ca=%2Fetc%2Fssl%2Fca.pem&database=evil&new_link=true');
    $this->assertSame('db', $dsn->database(), 'a query parameter never overwrites a parsed field');
    $this->assertSame(['ssl' => '1', 'ca' => '/etc/ssl/ca.pem', 'new_link' => 'true'], $dsn->options());
  }

  public function testNoCredentialsAndPhptypeWithSyntax(): void {
    $dsn = CRM_Civibackup_Dsn::parse('mysql(mysqli)://localhost/civi');
    $this->assertSame('mysql', $dsn->toArray()['phptype']);
    $this->assertSame('mysqli', $dsn->toArray()['dbsyntax']);
    $this->assertNull($dsn->username());
    $this->assertNull($dsn->password());
  }

  public function testRoundTripAndWithDatabase(): void {
    $text = 'mysql://us%40er:p%40ss%3Aw@127.0.0.1:3306/civi?new_link=true';
    $dsn = CRM_Civibackup_Dsn::parse($text);
    $this->assertSame($dsn->toArray(), CRM_Civibackup_Dsn::parse($dsn->toString())->toArray());
    $scratch = CRM_Civibackup_Dsn::parse($dsn->withDatabase('civi_cbscratch')->toString());
    $this->assertSame('civi_cbscratch', $scratch->database());
    $this->assertSame('p@ss:w', $scratch->password());
    $this->assertSame('us@er', $scratch->username());
  }

  public function testSameDatabase(): void {
    $a = CRM_Civibackup_Dsn::parse('mysql://a:b@LOCALHOST/civi?new_link=true');
    $this->assertTrue($a->sameDatabaseAs(CRM_Civibackup_Dsn::parse('mysql://other:creds@localhost:3306/civi')));
    $this->assertFalse($a->sameDatabaseAs(CRM_Civibackup_Dsn::parse('mysql://a:b@localhost/civi_log')));
    $this->assertFalse($a->sameDatabaseAs(CRM_Civibackup_Dsn::parse('mysql://a:b@otherhost/civi')));
  }

}
