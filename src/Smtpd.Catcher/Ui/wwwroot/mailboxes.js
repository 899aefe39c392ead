// The mailbox switcher: a native <select> of the default mailbox (every message) and each named mailbox that the
// catcher was started with (--mailbox NAME=RULE), with their counts from GET /api/v1/mailboxes. A native select is
// labelled, reachable with Tab, driven with the arrow keys and themed by the browser in both colour schemes, which
// a hand-made menu would each have to copy. Without named mailboxes it stays hidden: there is nothing to choose.

import { api } from './api.js';
import { formatCount } from './dom.js';

// What the default mailbox is called in the switcher: the API's mailbox without ?mailbox=, every message.
export const defaultMailboxLabel = 'All messages';

function optionText(name, total, unread) {
  const counts = unread > 0 ? `${formatCount(total)}, ${formatCount(unread)} unread` : formatCount(total);
  return `${name} (${counts})`;
}

export class MailboxSwitcher {
  /** `box` holds the label and `select`; `onChange(name)` runs when the reader picks a mailbox ('' for the default). */
  constructor(box, select, { onChange }) {
    this.box = box;
    this.select = select;
    this.mailboxes = [];
    this.total = 0;
    this.unread = 0;
    this.loaded = false;
    this.token = 0;
    // The choice is kept at once: a redraw for new counts before onChange has shown it must not undo it.
    select.addEventListener('change', () => {
      this.current = select.value;
      onChange(select.value);
    });
  }

  /** Whether the catcher has named mailboxes (known once `load` has answered). */
  get any() {
    return this.mailboxes.length > 0;
  }

  /** The configured name for `name` in any letter case (names are kept in lower case), or null when there is none. */
  find(name) {
    const wanted = String(name ?? '').trim().toLowerCase();
    return this.mailboxes.find((mailbox) => mailbox.Name === wanted)?.Name ?? null;
  }

  /** The rules of a named mailbox, as the API lists them. */
  rules(name) {
    return this.mailboxes.find((mailbox) => mailbox.Name === name)?.Rules ?? [];
  }

  /** The counts of a mailbox ('' for the default), or null before the first answer. */
  counts(name) {
    if (!this.loaded) return null;
    if (!name) return { total: this.total, unread: this.unread };
    const mailbox = this.mailboxes.find((m) => m.Name === name);
    return mailbox ? { total: Number(mailbox.Total) || 0, unread: Number(mailbox.Unread) || 0 } : null;
  }

  /** Asks for the mailboxes and their counts and redraws; a later call wins over an earlier one still in flight. */
  async load() {
    const token = ++this.token;
    const result = await api.mailboxes();
    if (token !== this.token) return false;
    this.mailboxes = (Array.isArray(result?.Mailboxes) ? result.Mailboxes : [])
      .filter((mailbox) => typeof mailbox?.Name === 'string' && mailbox.Name.length > 0);
    this.total = Number(result?.Total) || 0;
    this.unread = Number(result?.Unread) || 0;
    this.loaded = true;
    this.render();
    return true;
  }

  /** Shows `name` ('' for the default) as the chosen mailbox, without calling onChange. */
  show(name) {
    this.current = name;
    if (this.loaded) this.select.value = name;
  }

  render() {
    this.box.hidden = !this.any;
    if (!this.any) return;
    const wanted = [{ value: '', text: optionText(defaultMailboxLabel, this.total, this.unread) }]
      .concat(this.mailboxes.map((m) => ({ value: m.Name, text: optionText(m.Name, Number(m.Total) || 0, Number(m.Unread) || 0) })));
    // Counts change with every message: update the options in place, so an open list does not close or lose its
    // highlighted entry. Names come from the catcher's configuration, and still only ever become text.
    const options = this.select.options;
    while (options.length > wanted.length) options[options.length - 1].remove();
    wanted.forEach((item, index) => {
      let option = options[index];
      if (!option) {
        option = document.createElement('option');
        this.select.append(option);
      }
      // The attribute, not the property: an option without one takes its text as its value, and the default
      // mailbox's value is '' (the check passed on a new, empty option, whose value then became its text).
      if (option.getAttribute('value') !== item.value) option.value = item.value;
      if (option.textContent !== item.text) option.textContent = item.text;
    });
    this.select.value = this.current ?? '';
  }
}
