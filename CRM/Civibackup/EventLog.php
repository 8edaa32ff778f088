<?php
declare(strict_types = 1);

/**
 * Reads a run's NDJSON event file (the helper's `--json` stdout) while the helper may still
 * be writing it. Only complete, newline-terminated lines are read, so a half-written last
 * line is left for the next poll instead of being dropped or mis-parsed.
 *
 * Events keep the helper's fields; their `seq` is the helper's own sequence number.
 */
final class CRM_Civibackup_EventLog {

  public const EVENT_VERSION = 1;

  /**
   * @var string
   */
  private $file;

  public function __construct(string $file) {
    $this->file = $file;
  }

  public function path(): string {
    return $this->file;
  }

  /**
   * Events with seq > $since, in file order.
   *
   * @return array[]
   */
  public function readSince(int $since = 0): array {
    $events = [];
    foreach ($this->readAll() as $event) {
      if ($event['seq'] > $since) {
        $events[] = $event;
      }
    }
    return $events;
  }

  /**
   * Every complete event line; stray non-event lines (a log line) are skipped.
   *
   * @return array[]
   */
  public function readAll(): array {
    if (!is_file($this->file)) {
      return [];
    }
    $text = (string) file_get_contents($this->file);
    $end = strrpos($text, "\n");
    if ($end === FALSE) {
      return [];
    }
    $events = [];
    foreach (explode("\n", substr($text, 0, $end)) as $line) {
      $event = self::parseLine($line);
      if ($event !== NULL) {
        $events[] = $event;
      }
    }
    return $events;
  }

  /**
   * The run's `result` or `error` event, or NULL while it has none.
   */
  public function finalEvent(): ?array {
    $final = NULL;
    foreach ($this->readAll() as $event) {
      if (self::isFinal($event)) {
        $final = $event;
      }
    }
    return $final;
  }

  public static function isFinal(array $event): bool {
    return in_array($event['type'] ?? '', ['result', 'error'], TRUE);
  }

  /**
   * Mirrors parseEventLine() in ts-src/protocol/events.ts.
   */
  public static function parseLine(string $line): ?array {
    $line = trim($line);
    if ($line === '' || $line[0] !== '{') {
      return NULL;
    }
    try {
      $value = json_decode($line, TRUE, 64, JSON_THROW_ON_ERROR);
    }
    catch (JsonException $e) {
      return NULL;
    }
    if (is_array($value) && ($value['v'] ?? NULL) === self::EVENT_VERSION && is_int($value['seq'] ?? NULL) && is_string($value['type'] ?? NULL)) {
      return $value;
    }
    return NULL;
  }

}
