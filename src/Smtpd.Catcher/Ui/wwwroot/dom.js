// DOM helpers. Message data reaches the page only through text nodes and textContent: h() never parses markup,
// so a subject, name, filename or header can contain any characters and still be shown as just characters.

/**
 * Creates an element. `props` sets DOM properties (className, title, type, ...) except `attrs`, an object of
 * attributes set with setAttribute, and `on`, an object of event listeners. Children are nodes or strings; a
 * string always becomes a text node.
 */
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null) continue;
      if (key === 'attrs') {
        for (const [name, attr] of Object.entries(value)) {
          if (attr !== undefined && attr !== null && attr !== false) element.setAttribute(name, attr === true ? '' : String(attr));
        }
      } else if (key === 'on') {
        for (const [type, listener] of Object.entries(value)) element.addEventListener(type, listener);
      } else if (key === 'dataset') {
        Object.assign(element.dataset, value);
      } else {
        element[key] = value;
      }
    }
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces every child of an element. */
export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
}

export const $ = (selector, root = document) => root.querySelector(selector);

const sizeUnits = ['B', 'kB', 'MB', 'GB'];

/** Formats a byte count the way a file manager does: 812 B, 2.1 kB, 3.4 MB (powers of 1000). */
export function formatSize(bytes) {
  let value = Number(bytes) || 0;
  let unit = 0;
  while (value >= 1000 && unit < sizeUnits.length - 1) {
    value /= 1000;
    unit++;
  }
  return (unit === 0 ? String(value) : value.toFixed(value < 10 ? 1 : 0)) + ' ' + sizeUnits[unit];
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short' });
const dateFormat = new Intl.DateTimeFormat(undefined, { day: 'numeric', month: 'short', year: 'numeric' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

/** A short time for the list: the time today, the day this year, the date before that. */
export function formatShortTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const now = new Date();
  if (date.toDateString() === now.toDateString()) return timeFormat.format(date);
  if (date.getFullYear() === now.getFullYear()) return dayFormat.format(date);
  return dateFormat.format(date);
}

/** The full local date and time, for titles and the message header. */
export function formatFullTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso ?? '') : fullFormat.format(date);
}

const numberFormat = new Intl.NumberFormat();
export const formatCount = (n) => numberFormat.format(Number(n) || 0);

/** "Name <address>" or the address alone, from a Mailpit address object. */
export function formatAddress(address) {
  if (!address) return '';
  const name = address.Name ?? '';
  const mail = address.Address ?? '';
  if (name && mail) return `${name} <${mail}>`;
  return name || mail;
}

/** The name if there is one, else the address: what the list shows in the From column. */
export const displayName = (address) => (address && (address.Name || address.Address)) || '';

/** Copies text to the clipboard; falls back to a selected off-screen textarea where the Clipboard API is missing. */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Fall through: a denied permission still allows the old way.
    }
  }
  const area = h('textarea', { value: text, className: 'offscreen', attrs: { 'aria-hidden': 'true' } });
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand('copy');
  } catch {
    copied = false;
  }
  area.remove();
  return copied;
}

/** A button that copies `text` and says so for a moment (also to screen readers through its label). */
export function copyButton(text, label) {
  const button = h('button', {
    type: 'button',
    className: 'copy',
    textContent: 'Copy',
    attrs: { 'aria-label': label },
  });
  button.addEventListener('click', async () => {
    const copied = await copyText(text);
    button.textContent = copied ? 'Copied' : 'Copy failed';
    setTimeout(() => { button.textContent = 'Copy'; }, 1500);
  });
  return button;
}

/** Whether a keyboard event happened in a text field, where single-letter shortcuts must not fire. */
export function isTyping(event) {
  const target = event.target;
  if (!(target instanceof Element)) return false;
  return target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]') !== null
    && !(target instanceof HTMLInputElement && target.type === 'checkbox');
}
