<?php
declare(strict_types = 1);

/**
 * A failure with one of the stable codes of ts-src/protocol/errors.ts (CONFIG, LOCKED,
 * NODE_VERSION, ...) and a hint saying what to do. Needs no CiviCRM, so the service
 * classes stay testable; the API4 actions turn it into a CRM_Core_Exception.
 */
class CRM_Civibackup_Error extends RuntimeException {

  /**
   * @var string
   */
  private $errorCode;

  /**
   * @var string
   */
  private $hint;

  public function __construct(string $errorCode, string $message, string $hint = '', ?Throwable $previous = NULL) {
    parent::__construct($message, 0, $previous);
    $this->errorCode = $errorCode;
    $this->hint = $hint;
  }

  public function getErrorCode(): string {
    return $this->errorCode;
  }

  public function getHint(): string {
    return $this->hint;
  }

}
