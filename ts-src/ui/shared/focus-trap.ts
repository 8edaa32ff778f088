/**
 * Keeps Tab inside a modal dialog whose controls may sit in nested shadow roots (the run
 * progress inside the restore dialog): a modal <dialog> makes the page behind it inert, but
 * Tab from its last control would still leave for the browser's own UI.
 */
const FOCUSABLE = 'button, input, select, textarea, a[href], summary, [tabindex]';

function visible(element: HTMLElement): boolean {
  return element.getClientRects().length > 0;
}

function isFocusable(element: Element): element is HTMLElement {
  if (!(element instanceof HTMLElement) || !element.matches(FOCUSABLE)) return false;
  if ((element as HTMLButtonElement).disabled || element.getAttribute('tabindex') === '-1') return false;
  return visible(element);
}

/** The focusable elements under `root`, in tab order (document order, through shadow roots). */
export function focusableWithin(root: Element | ShadowRoot): HTMLElement[] {
  const found: HTMLElement[] = [];
  for (const child of Array.from(root.children)) {
    if (isFocusable(child)) found.push(child);
    if (child.shadowRoot) found.push(...focusableWithin(child.shadowRoot));
    found.push(...focusableWithin(child));
  }
  return found;
}

/** The focused element, looked up through shadow roots. */
export function deepActiveElement(): Element | null {
  let active: Element | null = document.activeElement;
  while (active?.shadowRoot?.activeElement) active = active.shadowRoot.activeElement;
  return active;
}

/** A keydown handler's body: Tab on the last control goes to the first, Shift+Tab on the first to the last. */
export function trapTab(event: KeyboardEvent, container: Element): void {
  if (event.key !== 'Tab') return;
  const focusable = focusableWithin(container);
  if (focusable.length === 0) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  const active = deepActiveElement();
  if (event.shiftKey && (active === first || !focusable.includes(active as HTMLElement))) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && (active === last || !focusable.includes(active as HTMLElement))) {
    event.preventDefault();
    first.focus();
  }
}
