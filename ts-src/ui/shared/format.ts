/** Pure formatting of sizes, durations and ages for display; labels go through ts(). */
import { ts } from '../i18n.js';

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB'];

/** 1536 -> "1.5 KB" (1024-based, one decimal under 10). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = unit === 0 || value >= 10 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit]}`;
}

/** 75 -> "1 min 15 s"; 3700 -> "1 h 2 min". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return ts('%1 s', { 1: s });
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return s % 60 ? ts('%1 min %2 s', { 1: minutes, 2: s % 60 }) : ts('%1 min', { 1: minutes });
  const hours = Math.floor(minutes / 60);
  return minutes % 60 ? ts('%1 h %2 min', { 1: hours, 2: minutes % 60 }) : ts('%1 h', { 1: hours });
}

/** How long ago `iso` was, relative to `now`: "3 hours ago", "2 days ago". */
export function formatAge(iso: string, now: Date = new Date()): string {
  const then = new Date(iso).getTime();
  if (Number.isNaN(then)) return '—';
  const seconds = Math.max(0, (now.getTime() - then) / 1000);
  if (seconds < 90) return ts('just now');
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return ts('%1 minutes ago', { 1: minutes });
  const hours = Math.round(minutes / 60);
  if (hours < 36) return ts('%1 hours ago', { 1: hours });
  return ts('%1 days ago', { 1: Math.round(hours / 24) });
}

/** A timestamp in the visitor's locale, with the zone, e.g. "26 Nov 2026, 07:00 UTC". */
export function formatDateTime(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '—';
  // dateStyle/timeStyle cannot be combined with timeZoneName, hence the explicit fields.
  return date.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' });
}
