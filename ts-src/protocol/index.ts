export * from './errors.js';
export * from './events.js';
export * from './manifest.js';
export * from './job.js';
export * from './sets.js';
export * from './api.js';
export * from './civicrm-tables.js';
export * from './tree-changes.js';
