/**
 * Debian's headless Chromium through puppeteer-core, logged in to a real site as a real
 * user: Standalone through an authx JWT (as the site build scripts check it), WordPress
 * through its login form.
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import puppeteer, { type Browser, type ElementHandle, type Page } from 'puppeteer-core';
import type { CiviSite } from './site.js';

export const CHROMIUM = '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  return puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-dev-shm-usage'],
    env: { ...process.env, TZ: 'UTC', LANG: 'en_US.UTF-8' },
  });
}

export interface Login {
  /** Standalone: the contact whose JWT logs in. WordPress: the user's login and password. */
  contactId?: number;
  user?: string;
  password?: string;
}

/**
 * Opens a CiviCRM page in a fresh browser context (its own cookies) as the given user;
 * returns the page and the HTTP status of the CiviCRM page itself. `errors` collects
 * uncaught page errors. `query` is the page's own query string (reset=1 by default).
 */
export async function openAs(browser: Browser, site: CiviSite, login: Login, path: string, query = 'reset=1'): Promise<{ page: Page; status: number; errors: string[] }> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  // Wide enough for CiviCRM's admin layout, so screenshots show the page as a desktop does.
  await page.setViewport({ width: 1280, height: 900 });
  page.setDefaultTimeout(60_000);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(String((error as Error).message ?? error)));
  // Console errors and failed requests: printed when a check fails, to say why.
  const trace: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warn') trace.push(`console.${message.type()}: ${message.text()}`);
  });
  page.on('requestfailed', (request) => trace.push(`request failed: ${request.url()} ${request.failure()?.errorText ?? ''}`));
  page.on('response', (response) => {
    if (response.status() >= 400) trace.push(`HTTP ${response.status()}: ${response.url()}`);
  });
  (page as Page & { trace?: string[] }).trace = trace;
  const status = await logIn(page, site, login, path, query);
  return { page, status, errors };
}

/**
 * Logs `page` in as the user and opens a CiviCRM page; returns its HTTP status. The login
 * holds for every page of the page's browser context (they share cookies).
 */
export async function logIn(page: Page, site: CiviSite, login: Login, path: string, query = 'reset=1'): Promise<number> {
  let response;
  if (site.kind === 'standalone') {
    const jwt = await site.php<string>(`return Civi::service('crypto.jwt')->encode(['exp' => time() + 900, 'sub' => 'cid:${Number(login.contactId)}', 'scope' => 'authx']);`);
    // authx answers 302 with a session cookie, then the page itself.
    response = await page.goto(site.pageUrl(path, `${query}&_authx=Bearer+${jwt}&_authxSes=1`), { waitUntil: 'load' });
  } else {
    await page.goto(`${site.baseUrl}/wp-login.php`, { waitUntil: 'load' });
    await page.type('#user_login', login.user ?? '');
    await page.type('#user_pass', login.password ?? '');
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#wp-submit')]);
    if (await page.$('#loginform')) throw new Error(`WordPress login as ${login.user} failed: ${await page.evaluate(() => document.querySelector('#login_error')?.textContent ?? '')}`);
    response = await page.goto(site.pageUrl(path, query), { waitUntil: 'load' });
  }
  return response?.status() ?? 0;
}

/**
 * Page-side source of deepText (a string: tsx/esbuild would wrap a named inner function of a
 * TypeScript callback in a `__name` helper that does not exist in the page).
 */
const DEEP_TEXT = `(selector) => {
  const collect = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return node.textContent || '';
    let text = node.shadowRoot ? collect(node.shadowRoot) : '';
    for (const child of Array.from(node.childNodes)) text += collect(child);
    return text;
  };
  const root = document.querySelector(selector);
  return root ? collect(root).replace(/\\s+/g, ' ') : '';
}`;

/** The text of an element and its shadow roots, as a reader sees it. */
export async function deepText(page: Page, selector: string): Promise<string> {
  return page.evaluate(`(${DEEP_TEXT})(${JSON.stringify(selector)})`) as Promise<string>;
}

/** Waits until the text of an element and its shadow roots matches; false on timeout. */
export async function waitForDeepText(page: Page, selector: string, pattern: RegExp, timeout = 60_000): Promise<boolean> {
  return page
    .waitForFunction(`${pattern.toString()}.test((${DEEP_TEXT})(${JSON.stringify(selector)}))`, { timeout, polling: 250 })
    .then(() => true, () => false);
}

/**
 * The labels of the menu entries above CiviCRM's menubar link to `path`, outermost first
 * (e.g. ['Administer', 'System Settings', 'Backups']). The menubar is built in the page from
 * the site's menu data; on WordPress its links carry the path URL-encoded in `q=`.
 */
export async function menuPath(page: Page, path: string): Promise<string[]> {
  const findLink = `Array.from(document.querySelectorAll('#civicrm-menu a[href]')).find((a) => decodeURIComponent(a.getAttribute('href')).includes(${JSON.stringify(path)}))`;
  const found = await page.waitForFunction(`!!(${findLink})`, { timeout: 60_000, polling: 250 }).then(() => true, () => false);
  if (!found) {
    const links = await page.evaluate(`Array.from(document.querySelectorAll('#civicrm-menu a[href]')).length`);
    throw new Error(`no link to ${path} in CiviCRM's menubar (#civicrm-menu has ${String(links)} links)`);
  }
  return page.evaluate(`(() => {
    const link = ${findLink};
    const labels = [];
    for (let item = link && link.closest('li'); item; item = item.parentElement && item.parentElement.closest('li')) {
      const anchor = item.querySelector(':scope > a');
      labels.unshift(((anchor && anchor.textContent) || '').trim());
    }
    return labels;
  })()`) as Promise<string[]>;
}

/**
 * Waits for an enabled button whose text (or, given `{ ariaLabel }`, whose aria-label) is
 * `name`, wherever it is in the page and its shadow roots; null on timeout.
 */
export async function waitForButton(page: Page, name: string | { ariaLabel: string }, timeout = 60_000): Promise<ElementHandle<HTMLButtonElement> | null> {
  const [attribute, wanted] = typeof name === 'string' ? ['', name] : ['aria-label', name.ariaLabel];
  const find = `(() => {
    const named = (button) => ((${JSON.stringify(attribute)} ? button.getAttribute(${JSON.stringify(attribute)}) : button.textContent) ?? '').trim() === ${JSON.stringify(wanted)};
    const visit = (root) => {
      for (const button of root.querySelectorAll('button')) if (!button.disabled && named(button)) return button;
      for (const element of root.querySelectorAll('*')) {
        const found = element.shadowRoot && visit(element.shadowRoot);
        if (found) return found;
      }
      return null;
    };
    return visit(document);
  })()`;
  const handle = await page.waitForFunction(find, { timeout, polling: 250 }).catch(() => null);
  return (handle?.asElement() as ElementHandle<HTMLButtonElement> | null | undefined) ?? null;
}

/** What the page logged (console errors, failed requests, HTTP errors), for a failure message. */
export function pageTrace(page: Page): string {
  return ((page as Page & { trace?: string[] }).trace ?? []).join('\n');
}

/** CIVIBACKUP_SCREENSHOTS=DIR: the suite saves what the docs show (e.g. DIR=docs/screenshots). */
export const SCREENSHOTS_VARIABLE = 'CIVIBACKUP_SCREENSHOTS';

/**
 * Saves the page as `<name>.png` into the folder CIVIBACKUP_SCREENSHOTS names; does nothing
 * without it, so a normal run writes no files.
 */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  const folder = process.env[SCREENSHOTS_VARIABLE];
  if (!folder) return;
  mkdirSync(resolve(folder), { recursive: true });
  await page.screenshot({ path: join(resolve(folder), `${name}.png`) as `${string}.png` });
}
