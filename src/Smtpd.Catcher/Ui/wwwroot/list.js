// The message list: a virtualised list of fixed-height rows over the API's start/limit paging. Only the rows in
// view (plus a few either side) exist in the DOM, and only the pages they need are fetched, so 100,000 messages
// cost the same as 100. Pages are cached (a bounded number) and refetched after live changes; until the new
// page arrives the old one stays on screen, so live updates never flash empty rows.

import { api } from './api.js';
import { h, displayName, formatAddress, formatShortTime, formatFullTime, formatSize, formatCount } from './dom.js';

const pageSize = 100;
const overscan = 8;
const maxCachedPages = 60;
// Browsers cap an element's height (Chromium near 33.5 million px); past this the scroll position is scaled.
const maxSpacerPx = 10_000_000;

export class MessageList {
  constructor(root, { onOpen, onSummary, onSelection, onError }) {
    this.root = root;
    this.spacer = root.querySelector('.list-spacer');
    this.onOpen = onOpen;
    this.onSummary = onSummary;
    this.onSelection = onSelection;
    this.onError = onError;
    this.query = '';
    this.mailbox = '';
    this.count = 0;
    this.loaded = false;
    this.pages = new Map();
    this.stale = new Map();
    this.pending = new Map();
    this.generation = 0;
    this.rows = new Map();
    this.pool = [];
    this.cursor = -1;
    this.openId = null;
    this.selected = new Set();
    this.lastPicked = -1;
    this.frame = 0;
    this.fetchTimer = 0;
    this.rowHeight = 64;
    this.measure();
    root.addEventListener('scroll', () => this.schedule(), { passive: true });
    new ResizeObserver(() => { this.measure(); this.schedule(); }).observe(root);
  }

  measure() {
    const value = parseFloat(getComputedStyle(this.root).getPropertyValue('--row-height'));
    if (value > 0 && value !== this.rowHeight) {
      this.rowHeight = value;
      this.layout();
    }
  }

  /** Shows a search (or the whole inbox for '') in a mailbox ('' for the default, every message), from the top. */
  async show(query, mailbox = '') {
    this.query = query;
    this.mailbox = mailbox;
    this.pages.clear();
    this.stale.clear();
    this.cursor = -1;
    this.lastPicked = -1;
    this.root.scrollTop = 0;
    await this.refresh();
  }

  /** Refetches the count and the pages in view, keeping the rows in view where they are when mail arrives above them. */
  async refresh() {
    const generation = ++this.generation;
    this.markPending = true;
    for (const [index, page] of this.pages) this.stale.set(index, page);
    this.pages.clear();
    let first;
    try {
      first = await this.fetchPage(0, generation);
    } catch (error) {
      if (generation === this.generation) this.onError(error);
      return;
    }
    if (!first || generation !== this.generation) return;
    this.schedule();
  }

  get scale() {
    const height = this.count * this.rowHeight;
    return height > maxSpacerPx ? maxSpacerPx / height : 1;
  }

  layout() {
    this.spacer.style.height = `${Math.ceil(this.count * this.rowHeight * this.scale)}px`;
  }

  /** The virtual scroll offset (as if every row were laid out) of the top of the view. */
  virtualTop() {
    const scrollTop = this.root.scrollTop;
    if (this.scale === 1) return scrollTop;
    const range = this.spacer.offsetHeight - this.root.clientHeight;
    const virtualRange = this.count * this.rowHeight - this.root.clientHeight;
    return range > 0 ? (scrollTop / range) * virtualRange : 0;
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  visibleRange() {
    const top = this.virtualTop();
    const height = this.root.clientHeight;
    const first = Math.max(0, Math.floor(top / this.rowHeight));
    const last = Math.min(this.count - 1, Math.ceil((top + height) / this.rowHeight) - 1);
    return { first, last, top };
  }

  render() {
    const { first, last, top } = this.visibleRange();
    const from = Math.max(0, first - overscan);
    const to = Math.min(this.count - 1, last + overscan);
    for (const [index, row] of this.rows) {
      if (index < from || index > to) {
        this.rows.delete(index);
        row.hidden = true;
        this.pool.push(row);
      }
    }
    const scrollTop = this.root.scrollTop;
    let missing = false;
    for (let index = from; index <= to; index++) {
      let row = this.rows.get(index);
      if (!row) {
        row = this.pool.pop() ?? this.createRow();
        row.hidden = false;
        row.dataset.key = '';
        this.rows.set(index, row);
      }
      row.style.transform = `translateY(${Math.round(scrollTop + index * this.rowHeight - top)}px)`;
      const message = this.messageAt(index);
      if (!message) missing = true;
      this.fill(row, index, message);
    }
    if (missing) this.scheduleFetch(from, to);
    // For bench/ui: the moment the rows in view show messages (not placeholders) after a load or a search.
    else if (this.loaded && this.count > 0 && this.markPending) {
      this.markPending = false;
      performance.mark('smtpd:list-rendered');
    }
  }

  scheduleFetch(from, to) {
    clearTimeout(this.fetchTimer);
    // While the scrollbar is dragged through thousands of rows, wait until it rests before fetching.
    this.fetchTimer = setTimeout(() => {
      const generation = this.generation;
      for (let page = Math.floor(from / pageSize); page <= Math.floor(to / pageSize); page++) {
        if (!this.pages.has(page) && this.pending.get(page)?.generation !== generation) {
          this.fetchPage(page, generation).then(() => this.schedule(), (error) => this.onError(error));
        }
      }
    }, 40);
  }

  async fetchPage(page, generation) {
    // A fetch in flight is shared only within its generation: one started before a refresh (before a delete, say)
    // answers for the old list and is dropped on arrival, so the refresh must ask again, or the rows stay stale.
    const inFlight = this.pending.get(page);
    if (inFlight && inFlight.generation === generation) return inFlight.promise;
    const promise = api.list(this.query, page * pageSize, pageSize).then((result) => {
      if (generation !== this.generation) return null;
      this.accept(page, result);
      return result;
    }).finally(() => {
      if (this.pending.get(page)?.promise === promise) this.pending.delete(page);
    });
    this.pending.set(page, { generation, promise });
    return promise;
  }

  accept(page, result) {
    const messages = Array.isArray(result.messages) ? result.messages : [];
    const count = Number(result.messages_count ?? result.total ?? messages.length) || 0;
    if (this.loaded && count > this.count && this.root.scrollTop > 0 && page === 0) {
      // New mail arrived above the rows in view: move down with them so what the reader looks at stays put.
      const added = count - this.count;
      this.root.scrollTop += added * this.rowHeight * this.scale;
      if (this.cursor >= 0) this.cursor += added;
      if (this.lastPicked >= 0) this.lastPicked += added;
      this.stale.clear();
    }
    this.count = count;
    this.loaded = true;
    this.pages.set(page, messages);
    this.stale.delete(page);
    while (this.pages.size > maxCachedPages) {
      const current = Math.floor(Math.max(this.cursor, 0) / pageSize);
      let farthest = -1;
      for (const cached of this.pages.keys()) {
        if (farthest < 0 || Math.abs(cached - current) > Math.abs(farthest - current)) farthest = cached;
      }
      this.pages.delete(farthest);
    }
    this.layout();
    this.onSummary(result, this.count);
    this.schedule();
  }

  messageAt(index) {
    if (index < 0 || index >= this.count) return null;
    const page = Math.floor(index / pageSize);
    const messages = this.pages.get(page) ?? this.stale.get(page);
    return messages?.[index - page * pageSize] ?? null;
  }

  /** The message at an index, fetching its page if needed. */
  async ensure(index) {
    if (index < 0 || index >= this.count) return null;
    const cached = this.pages.get(Math.floor(index / pageSize))?.[index % pageSize];
    if (cached) return cached;
    await this.fetchPage(Math.floor(index / pageSize), this.generation);
    return this.messageAt(index);
  }

  indexOf(id) {
    for (const source of [this.pages, this.stale]) {
      for (const [page, messages] of source) {
        const at = messages.findIndex((m) => m.ID === id);
        if (at >= 0) return page * pageSize + at;
      }
    }
    return -1;
  }

  /** Applies an `update` event (read state, tags) to the cached copy. */
  update(data) {
    if (!data || !data.ID) return;
    for (const source of [this.pages, this.stale]) {
      for (const messages of source.values()) {
        const at = messages.findIndex((m) => m.ID === data.ID);
        if (at >= 0) messages[at] = { ...messages[at], ...data };
      }
    }
    this.schedule();
  }

  createRow() {
    const pick = h('input', { type: 'checkbox', className: 'pick' });
    const link = h('a', { className: 'open' },
      h('span', { className: 'from' }),
      h('span', { className: 'tags' }),
      h('span', { className: 'clip i i-clip', title: 'Has attachments', attrs: { role: 'img', 'aria-label': 'has attachments' } }),
      h('time', { className: 'when' }),
      h('span', { className: 'line' }, h('span', { className: 'subject' }), h('span', { className: 'snippet' })),
      h('span', { className: 'size' }));
    const row = h('div', { className: 'row', attrs: { role: 'listitem' } }, pick, link);
    pick.addEventListener('click', (event) => this.pick(row, event.shiftKey));
    link.addEventListener('click', (event) => {
      if (event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
      event.preventDefault();
      const index = Number(row.dataset.index);
      const message = this.messageAt(index);
      if (message) {
        this.cursor = index;
        this.onOpen(message, index);
      }
    });
    link.addEventListener('focus', () => {
      this.cursor = Number(row.dataset.index);
      this.schedule();
    });
    this.spacer.append(row);
    return row;
  }

  fill(row, index, message) {
    const selected = message ? this.selected.has(message.ID) : false;
    const tags = message?.Tags ?? [];
    const key = message
      ? `${index}|${message.ID}|${message.Read}|${tags.join('\u0000')}|${selected}|${index === this.cursor}|${message.ID === this.openId}`
      : `${index}|loading`;
    if (row.dataset.key === key) return;
    row.dataset.key = key;
    row.dataset.index = String(index);
    row.setAttribute('aria-setsize', String(this.count));
    row.setAttribute('aria-posinset', String(index + 1));
    const [pick, link] = row.children;
    const [from, tagsBox, clip, when, line, size] = link.children;
    const [subject, snippet] = line.children;
    row.classList.toggle('loading', !message);
    if (!message) {
      pick.disabled = true;
      pick.checked = false;
      link.removeAttribute('href');
      for (const part of [from, when, subject, snippet, size]) part.textContent = '';
      tagsBox.replaceChildren();
      clip.hidden = true;
      return;
    }
    row.classList.toggle('unread', !message.Read);
    row.classList.toggle('selected', selected);
    row.classList.toggle('current', index === this.cursor);
    row.classList.toggle('opened', message.ID === this.openId);
    pick.disabled = false;
    pick.checked = selected;
    const sender = displayName(message.From) || '(no sender)';
    const title = message.Subject || '(no subject)';
    pick.setAttribute('aria-label', `Select: ${title}`);
    // The row's own address (for a new tab or a copied link) opens the message in the same mailbox and search.
    const params = new URLSearchParams();
    if (this.mailbox) params.set('mailbox', this.mailbox);
    if (this.query) params.set('q', this.query);
    params.set('m', message.ID);
    link.href = `?${params}`;
    link.setAttribute('aria-label', `${message.Read ? '' : 'Unread. '}From ${sender}. ${title}. ${formatShortTime(message.Created)}`);
    from.textContent = sender;
    from.title = formatAddress(message.From);
    tagsBox.replaceChildren(...tags.map((tag) => h('span', { className: 'tag', textContent: tag })));
    clip.hidden = !(Number(message.Attachments) > 0);
    when.textContent = formatShortTime(message.Created);
    when.dateTime = message.Created ?? '';
    when.title = formatFullTime(message.Created);
    subject.textContent = title;
    snippet.textContent = message.Snippet ? ` — ${message.Snippet}` : '';
    size.textContent = formatSize(message.Size);
  }

  pick(row, range) {
    const index = Number(row.dataset.index);
    const message = this.messageAt(index);
    if (!message) return;
    const on = !this.selected.has(message.ID);
    if (range && this.lastPicked >= 0) {
      const [a, b] = this.lastPicked < index ? [this.lastPicked, index] : [index, this.lastPicked];
      for (let i = a; i <= b; i++) {
        const m = this.messageAt(i);
        if (m) on ? this.selected.add(m.ID) : this.selected.delete(m.ID);
      }
    } else if (on) {
      this.selected.add(message.ID);
    } else {
      this.selected.delete(message.ID);
    }
    this.lastPicked = index;
    this.schedule();
    this.onSelection(this.selected);
  }

  /** Selects or clears every loaded row in view. */
  pickVisible(on) {
    const { first, last } = this.visibleRange();
    for (let i = first; i <= last; i++) {
      const m = this.messageAt(i);
      if (m) on ? this.selected.add(m.ID) : this.selected.delete(m.ID);
    }
    this.schedule();
    this.onSelection(this.selected);
  }

  toggleCurrent() {
    const row = this.rows.get(this.cursor);
    if (row) this.pick(row, false);
  }

  clearSelection() {
    this.selected.clear();
    this.lastPicked = -1;
    this.schedule();
    this.onSelection(this.selected);
  }

  /** Moves the keyboard cursor by `delta` rows, scrolls it into view and focuses its row. */
  move(delta) {
    if (this.count === 0) return -1;
    const next = Math.min(this.count - 1, Math.max(0, (this.cursor < 0 ? -1 : this.cursor) + delta));
    this.cursor = next;
    this.reveal(next);
    return next;
  }

  reveal(index) {
    const top = this.virtualTop();
    const height = this.root.clientHeight;
    const rowTop = index * this.rowHeight;
    if (rowTop < top) this.root.scrollTop -= (top - rowTop) * this.scale;
    else if (rowTop + this.rowHeight > top + height) this.root.scrollTop += (rowTop + this.rowHeight - top - height) * this.scale;
    this.render();
    this.rows.get(index)?.querySelector('a.open')?.focus({ preventScroll: true });
  }

  setOpen(id) {
    this.openId = id;
    this.schedule();
  }

  summaryText() {
    return formatCount(this.count);
  }
}
