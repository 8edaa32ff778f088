/**
 * Shared look: CiviCRM's classes (crm-button, crm-form-block) do not reach into shadow DOM,
 * so the components restyle their own controls with Riverlea's --crm-* custom properties
 * (which do inherit through the shadow boundary). Each var() carries a neutral fallback that
 * resembles Greenwich, where those properties do not exist.
 */
import { css } from 'lit';

export const baseStyles = css`
  :host {
    display: block;
    color: var(--crm-c-text, #3e3e3e);
    font-family: var(--crm-font, inherit);
    font-size: var(--crm-font-size, 0.875rem);
    line-height: var(--crm-type-line-height, 1.5);
  }
  [hidden] {
    display: none !important;
  }
  h2,
  h3 {
    margin: var(--crm-m, 0.5rem) 0;
    font-weight: 600;
  }
  h2 {
    font-size: 1.25em;
  }
  h3 {
    font-size: 1.1em;
  }
  .block {
    background: var(--crm-form-block-background, var(--crm-c-background, #f5f5f5));
    border-radius: var(--crm-form-block-border-radius, var(--crm-roundness, 4px));
    padding: var(--crm-form-block-padding, 0.75rem);
    margin-block-end: var(--crm-m, 0.75rem);
  }
  .muted {
    color: var(--crm-input-description, var(--crm-c-gray-700, #696969));
  }
  code,
  pre {
    background: var(--crm-c-code-background, #f0f0f0);
    border-radius: var(--crm-roundness, 3px);
    font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
    font-size: 0.9em;
  }
  /* Paths, set ids and keys have no spaces; let them break rather than widen the page. */
  code {
    overflow-wrap: anywhere;
  }
  pre {
    padding: 0.5rem;
    white-space: pre-wrap;
    word-break: break-all;
    margin: 0.25rem 0;
  }
  :focus-visible {
    outline: 2px solid var(--crm-c-focus, #1f6da8);
    outline-offset: 2px;
  }
  .visually-hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    overflow: hidden;
    clip: rect(0 0 0 0);
    white-space: nowrap;
  }
`;

export const buttonStyles = css`
  button {
    display: inline-flex;
    align-items: center;
    gap: var(--crm-btn-icon-spacing, 0.25rem);
    min-height: var(--crm-btn-height, 28px);
    padding: var(--crm-btn-padding-block, 0.125rem) var(--crm-btn-padding-inline, 0.625rem);
    border: var(--crm-btn-border, 1px solid #3e3e3e);
    border-radius: var(--crm-btn-radius, 3px);
    background: var(--crm-c-secondary, #5d677b);
    color: var(--crm-c-secondary-text, #fff);
    font: inherit;
    font-weight: var(--crm-btn-weight, inherit);
    text-transform: var(--crm-btn-txt-transform, inherit);
    box-shadow: var(--crm-btn-box-shadow, none);
    cursor: var(--crm-hover-clickable, pointer);
  }
  button:hover:not(:disabled) {
    background: var(--crm-c-secondary-hover, #464e5e);
  }
  button.primary {
    background: var(--crm-c-primary, #2c6fa3);
    color: var(--crm-c-primary-text, #fff);
    font-size: 1.05em;
    padding: var(--crm-btn-large-padding, 0.5rem 1rem);
  }
  button.primary:hover:not(:disabled) {
    background: var(--crm-c-primary-hover, #215780);
  }
  button.danger {
    background: var(--crm-btn-danger-bg, var(--crm-c-danger, #91223c));
    color: var(--crm-btn-danger-text, #fff);
  }
  button.link {
    background: none;
    border: none;
    color: var(--crm-c-link, #20576f);
    padding: 0;
    min-height: 0;
    text-decoration: underline;
  }
  button:disabled {
    opacity: 0.6;
    cursor: not-allowed;
  }
`;

export const formStyles = css`
  .field {
    display: grid;
    gap: 0.2rem;
    margin-block-end: 0.75rem;
  }
  .field.inline {
    display: flex;
    flex-wrap: wrap;
    align-items: center;
    gap: 0.5rem;
  }
  label,
  legend {
    font-weight: var(--crm-input-label-weight, 600);
    color: var(--crm-input-label-color, inherit);
  }
  .field.inline label {
    font-weight: normal;
  }
  input[type='text'],
  input[type='number'],
  input[type='email'],
  input[type='password'],
  input:not([type]),
  select,
  textarea {
    font: inherit;
    font-size: var(--crm-input-font-size, 0.875rem);
    color: var(--crm-input-color, inherit);
    background: var(--crm-input-background, #fff);
    border: 1px solid var(--crm-input-border-color, #adaeb3);
    border-radius: var(--crm-input-border-radius, 3px);
    box-shadow: var(--crm-input-box-shadow, inset 0 1px 2px rgba(0, 0, 0, 0.1));
    padding: var(--crm-input-padding, 0.2rem 0.4rem);
    max-width: var(--crm-huge-input, 30em);
    box-sizing: border-box;
  }
  textarea {
    width: 100%;
    max-width: 72ch;
    font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  }
  [aria-invalid='true'] {
    border-color: var(--crm-c-danger, #91223c) !important;
    border-width: 2px !important;
  }
  .error {
    color: var(--crm-c-danger-on-page-bg, #5d0d20);
    font-weight: 600;
  }
  .error::before {
    content: '\\26A0\\FE0E  ';
  }
  .help {
    color: var(--crm-input-description, #696969);
    font-size: var(--crm-small-font-size, 0.85em);
  }
  fieldset {
    border: 1px solid var(--crm-fieldset-border-color, #c2c0c0);
    border-radius: var(--crm-roundness, 4px);
    padding: var(--crm-fieldset-padding, 0.75rem);
    margin: 0 0 1rem;
    /* A fieldset is min-content wide by default, so one long line would widen the page. */
    min-inline-size: 0;
  }
`;

export const alertStyles = css`
  .alert {
    padding: var(--crm-alert-padding, 0.5rem 0.75rem);
    margin: var(--crm-alert-margin, 0 0 0.5rem);
    border: 1px solid;
    border-radius: var(--crm-roundness, 4px);
  }
  .alert.error,
  .alert.critical {
    background: var(--crm-alert-danger-bg, #f9d9e1);
    border-color: var(--crm-alert-danger-border, #e8a5b5);
    color: var(--crm-alert-danger-text, #5d0d20);
  }
  .alert.warning {
    background: var(--crm-alert-warning-bg, #ffffcc);
    border-color: var(--crm-alert-warning-border, #e6e68a);
    color: var(--crm-alert-warning-text, #3e3e3e);
  }
  .alert.info,
  .alert.notice {
    background: var(--crm-alert-info-bg, #e9f5fb);
    border-color: var(--crm-alert-info-border, #bce8f1);
    color: var(--crm-alert-info-text, #20576f);
  }
  .alert.success {
    background: var(--crm-alert-success-bg, #dfefdc);
    border-color: var(--crm-alert-success-border, #b8d9b1);
    color: var(--crm-alert-success-text, #2e562e);
  }
`;

export const tableStyles = css`
  table {
    border-collapse: collapse;
    width: 100%;
    border: var(--crm-table-outside-border, 1px solid #e2e1e1);
    background: var(--crm-table-background, #fff);
  }
  th,
  td {
    padding: var(--crm-table-padding, 0.4rem 0.5rem);
    text-align: start;
    vertical-align: top;
    border-bottom: var(--crm-table-row-border, 1px solid #c2c0c0);
  }
  th {
    border-bottom: var(--crm-table-header-bottom, 2px solid #c2c0c0);
    color: var(--crm-table-header-col, inherit);
    background: var(--crm-table-header-bg, #fff);
  }
  tbody tr:nth-child(even) {
    background: var(--crm-table-even-row, #f7f7f7);
  }
  td.num,
  th.num {
    text-align: end;
    font-variant-numeric: tabular-nums;
  }
`;

/** A modal <dialog> with CiviCRM's dialog header and body. */
export const dialogStyles = css`
  dialog {
    border: none;
    border-radius: var(--crm-dialog-radius, 4px);
    box-shadow: var(--crm-popup-shadow, 0 3px 18px rgba(0, 0, 0, 0.25));
    padding: 0;
    max-width: 32rem;
    color: inherit;
  }
  dialog h3 {
    margin: 0;
    padding: var(--crm-dialog-header-padding, 0.6rem 1rem);
    background: var(--crm-dialog-header-bg, #5d677b);
    color: var(--crm-dialog-header-col, #fff);
  }
  dialog .body {
    padding: 0.75rem 1rem;
    background: var(--crm-dialog-body-bg, #f4f4ed);
  }
  dialog .buttons {
    display: flex;
    justify-content: end;
    gap: 0.5rem;
    margin-top: 0.75rem;
  }
`;
