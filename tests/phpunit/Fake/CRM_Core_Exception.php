<?php
declare(strict_types = 1);

/**
 * STAND-IN FOR CIVICRM'S CRM_Core_Exception: the message, a code that may be a string (the
 * API's error_code) and the extra error data. Not CiviCRM's class.
 */
class CRM_Core_Exception extends Exception {

  /**
   * @var string|int
   */
  private $errorCode;

  /**
   * @var array
   */
  private $errorData;

  public function __construct(string $message = '', $errorCode = 0, array $errorData = [], ?Throwable $previous = NULL) {
    parent::__construct($message, 0, $previous);
    $this->errorCode = $errorCode;
    $this->errorData = $errorData;
  }

  /**
   * @return string|int
   */
  public function getErrorCode() {
    return $this->errorCode;
  }

  public function getErrorData(): array {
    return $this->errorData;
  }

}
