// The message view. Everything taken from the message goes in through textContent (h() and replace() in dom.js)
// or into the sandboxed iframe, which loads the API's /view/{ID}.html route: the frame has no allow-scripts and
// no allow-same-origin, so the message's HTML can neither run script nor reach this page.

import { api } from './api.js';
import { h, replace, $, formatAddress, formatFullTime, formatSize, copyButton } from './dom.js';

const sourceDisplayLimit = 2_000_000;
// Remote references in the HTML: src/background/poster attributes, url(...) in styles and stylesheet links.
const remotePattern = /(?:\b(?:src|background|poster|srcset)\s*=\s*["']?\s*(?:https?:)?\/\/)|(?:url\(\s*["']?\s*(?:https?:)?\/\/)|(?:<link\b[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?\/\/)/i;
const widthKey = 'smtpd-preview-width';

// Labels for the members of the API's Smtpd object; members not listed here are shown under their own name.
const envelopeLabels = {
  MailFrom: 'MAIL FROM',
  Recipients: 'RCPT TO',
  Client: 'Client',
  Helo: 'HELO / EHLO',
  Tls: 'TLS',
  Protocol: 'Protocol',
  Cipher: 'Cipher',
  User: 'AUTH user',
  Dsn: 'DSN',
  Ret: 'RET',
  EnvId: 'ENVID',
  To: 'Recipient',
  Notify: 'NOTIFY',
  Orcpt: 'ORCPT',
  Sha256: 'SHA-256 of the raw message',
};

function humanize(name) {
  return envelopeLabels[name] ?? String(name).replace(/([a-z])([A-Z])/g, '$1 $2');
}

function lowerAddress(value) {
  return String(typeof value === 'string' ? value : value?.Address ?? '').trim().toLowerCase();
}

/** Renders any JSON value as text nodes: lists become <ul>, objects nested <dl>, booleans Yes/No. */
function renderValue(value, headerAddresses) {
  if (value === null || value === undefined || value === '') return h('span', { className: 'muted', textContent: '—' });
  if (typeof value === 'boolean') return value ? 'Yes' : 'No';
  if (Array.isArray(value)) {
    if (value.length === 0) return h('span', { className: 'muted', textContent: 'none' });
    return h('ul', { className: 'plain' }, value.map((item) => h('li', null, renderRecipient(item, headerAddresses))));
  }
  if (typeof value === 'object') {
    return h('dl', { className: 'kv-list nested' },
      Object.entries(value).map(([key, inner]) => [h('dt', { textContent: humanize(key) }), h('dd', null, renderValue(inner, headerAddresses))]));
  }
  return String(value);
}

function renderRecipient(item, headerAddresses) {
  const content = typeof item === 'object' && item !== null ? renderValue(item) : String(item);
  const address = lowerAddress(item);
  const hidden = headerAddresses && address && !headerAddresses.has(address);
  return [content, hidden ? h('span', { className: 'badge bcc', textContent: 'not in To/Cc: Bcc', title: 'This recipient is not in the To or Cc header' }) : null];
}

function normalizeList(data, keys) {
  if (Array.isArray(data)) return data;
  for (const key of keys) {
    if (data && Array.isArray(data[key])) return data[key];
  }
  return [];
}

function linkText(item) {
  if (typeof item === 'string') return item;
  return String(item?.URL ?? item?.Url ?? item?.Href ?? item?.href ?? item?.url ?? '');
}

function safeHref(text) {
  try {
    const url = new URL(text);
    return ['http:', 'https:', 'mailto:'].includes(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

export class MessageView {
  constructor({ onDeleted, onNavigate, onTagsChanged, onReadChanged, onError, toast }) {
    this.onDeleted = onDeleted;
    this.onNavigate = onNavigate;
    this.onTagsChanged = onTagsChanged;
    this.onReadChanged = onReadChanged;
    this.onError = onError;
    this.toast = toast;
    this.pane = $('#message-pane');
    this.frame = $('#msg-frame');
    this.message = null;
    this.token = 0;
    this.remote = false;
    this.loaded = new Set();
    this.tab = 'html';
    this.preferred = 'html';

    this.tabs = [...document.querySelectorAll('#msg-tabs [role=tab]')];
    for (const tab of this.tabs) {
      tab.addEventListener('click', () => this.select(tab.dataset.tab));
      tab.addEventListener('keydown', (event) => this.tabKey(event));
    }
    $('#msg-prev').addEventListener('click', () => this.onNavigate(-1));
    $('#msg-next').addEventListener('click', () => this.onNavigate(1));
    $('#msg-unread').addEventListener('click', () => this.markUnread());
    $('#msg-delete').addEventListener('click', () => this.remove());
    $('#remote-load').addEventListener('click', () => this.loadRemote());
    $('#link-check').addEventListener('click', () => this.checkLinks());
    $('#msg-tag-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.addTag();
    });
    let width = 'desktop';
    try {
      width = localStorage.getItem(widthKey) || 'desktop';
    } catch {
      // No storage: the default width.
    }
    for (const radio of document.querySelectorAll('input[name=width]')) {
      radio.checked = radio.value === width;
      radio.addEventListener('change', () => this.setWidth(radio.value));
    }
    this.setWidth(width);
  }

  get id() {
    return this.message?.ID ?? null;
  }

  setWidth(width) {
    $('#frame-box').dataset.width = width;
    try {
      localStorage.setItem(widthKey, width);
    } catch {
      // Not remembered; fine.
    }
  }

  /** Loads and shows a message. Reading it marks it read, as Mailpit's UI does. */
  async open(id) {
    const token = ++this.token;
    this.pane.hidden = false;
    this.pane.setAttribute('aria-busy', 'true');
    let message;
    try {
      message = await api.message(id);
    } catch (error) {
      if (token !== this.token) return false;
      this.pane.removeAttribute('aria-busy');
      this.onError(error);
      return false;
    }
    if (token !== this.token) return false;
    this.pane.removeAttribute('aria-busy');
    this.message = message;
    this.remote = false;
    this.loaded.clear();
    this.render();
    this.onReadChanged(message.ID, true);
    performance.mark('smtpd:message-rendered');
    this.loadExtraction(token);
    return true;
  }

  close() {
    this.token++;
    this.message = null;
    this.pane.hidden = true;
    this.frame.removeAttribute('src');
  }

  render() {
    const m = this.message;
    $('#msg-subject').textContent = m.Subject || '(no subject)';
    const headerAddresses = new Set([...(m.To ?? []), ...(m.Cc ?? [])].map(lowerAddress));
    this.headerAddresses = headerAddresses;
    const rows = [
      ['From', m.From ? formatAddress(m.From) : ''],
      ['To', (m.To ?? []).map(formatAddress).join(', ')],
      ['Cc', (m.Cc ?? []).map(formatAddress).join(', ')],
      ['Bcc', (m.Bcc ?? []).map(formatAddress).join(', ')],
      ['Reply-To', (m.ReplyTo ?? []).map(formatAddress).join(', ')],
      ['Date', m.Date ? formatFullTime(m.Date) : ''],
      ['Size', formatSize(m.Size)],
    ].filter(([, value]) => value);
    replace($('#msg-meta'), rows.map(([name, value]) => h('div', null, h('dt', { textContent: name }), h('dd', { textContent: value }))));
    this.renderTags();
    $('#msg-download').href = api.rawDownloadUrl(m.ID);
    $('#msg-download').setAttribute('download', `${m.ID}.eml`);

    const hasHtml = typeof m.HTML === 'string' ? m.HTML.length > 0 : true;
    $('#frame-box').hidden = !hasHtml;
    $('#no-html').hidden = hasHtml;
    $('#html-open').hidden = !hasHtml;
    $('#remote-note').hidden = !(hasHtml && remotePattern.test(m.HTML ?? ''));
    if (hasHtml) {
      this.frame.src = api.htmlViewUrl(m.ID, false);
      $('#html-open').href = api.htmlViewUrl(m.ID, false);
    } else {
      this.frame.removeAttribute('src');
    }
    $('#msg-text').textContent = m.Text ?? '';
    this.renderFiles();
    this.renderEnvelope();
    replace($('#msg-links'), h('li', { className: 'muted', textContent: 'Loading…' }));
    replace($('#msg-codes'));
    $('#links-count').textContent = '';
    $('#link-check-summary').textContent = '';
    $('#link-check').disabled = false;
    // The tab the reader chose last stays chosen; a message without HTML falls back to its text.
    this.select(!hasHtml && this.preferred === 'html' ? 'text' : this.preferred, false, false);
  }

  renderTags() {
    const tags = this.message?.Tags ?? [];
    replace($('#msg-tag-list'), tags.map((tag) => h('span', { className: 'tag removable' },
      tag,
      h('button', {
        type: 'button',
        className: 'tag-remove',
        textContent: '×',
        attrs: { 'aria-label': `Remove tag ${tag}` },
        on: { click: () => this.setTags(tags.filter((t) => t !== tag)) },
      }))));
  }

  renderFiles() {
    const m = this.message;
    const files = [
      ...(m.Attachments ?? []).map((file) => ({ ...file, kind: 'Attachment' })),
      ...(m.Inline ?? []).map((file) => ({ ...file, kind: 'Inline' })),
    ];
    $('#attachments-count').textContent = files.length ? String(files.length) : '';
    $('#no-files').hidden = files.length > 0;
    replace($('#msg-files'), files.map((file) => {
      const name = file.FileName || `part ${file.PartID}`;
      const url = api.partUrl(m.ID, file.PartID);
      const raster = /^image\/(png|jpe?g|gif|webp|bmp)$/i.test(file.ContentType ?? '');
      return h('tr', null,
        h('td', null,
          raster ? h('img', { className: 'thumb', src: url, alt: '', loading: 'lazy', width: 32, height: 32 }) : null,
          h('a', { href: url, textContent: name, attrs: { download: name } })),
        h('td', { textContent: file.ContentType ?? '' }),
        h('td', { textContent: formatSize(file.Size) }),
        h('td', null, file.kind, file.ContentID ? h('span', { className: 'muted', textContent: ` cid:${file.ContentID}` }) : null));
    }));
  }

  renderEnvelope() {
    const m = this.message;
    const smtpd = m.Smtpd && typeof m.Smtpd === 'object' ? { ...m.Smtpd } : null;
    const box = $('#msg-envelope');
    if (!smtpd) {
      replace(box, h('dt', { textContent: 'Envelope' }), h('dd', { className: 'muted', textContent: 'This catcher did not record the SMTP session for this message.' }));
      return;
    }
    const items = [];
    for (const [key, value] of Object.entries(smtpd)) {
      let shown = value;
      if (key === 'MailFrom' && value === '') shown = '<> (the null sender of a bounce)';
      if (key === 'Tls' && !value) shown = 'No: the message came in plaintext';
      if (key === 'User' && !value) shown = 'none: the client did not authenticate';
      if (key === 'Dsn' && !value) shown = 'none: the client sent no DSN parameters';
      const isRecipients = key === 'Recipients';
      items.push(h('div', null,
        h('dt', { textContent: humanize(key) }),
        h('dd', null, isRecipients && Array.isArray(value) ? renderValue(value, this.headerAddresses) : renderValue(shown))));
    }
    replace(box, items);
  }

  async loadExtraction(token) {
    const id = this.message.ID;
    const [links, codes] = await Promise.allSettled([api.links(id), api.codes(id)]);
    if (token !== this.token) return;
    const linkItems = links.status === 'fulfilled' ? normalizeList(links.value, ['Links', 'links']) : [];
    const codeItems = codes.status === 'fulfilled' ? normalizeList(codes.value, ['Codes', 'codes']) : [];
    $('#links-count').textContent = linkItems.length + codeItems.length ? String(linkItems.length + codeItems.length) : '';
    replace($('#msg-links'), linkItems.length ? linkItems.map((item) => {
      const text = linkText(item);
      const href = safeHref(text);
      const label = typeof item === 'object' && item?.Text && item.Text !== text ? item.Text : '';
      const source = typeof item === 'object' && item?.Source ? item.Source : '';
      return h('li', { dataset: { url: text } },
        href ? h('a', { href, textContent: text, target: '_blank', rel: 'noopener noreferrer' }) : h('span', { textContent: text }),
        copyButton(text, `Copy link ${text}`),
        label || source ? h('span', { className: 'muted context', textContent: [label && `“${label}”`, source && `in the ${source}`].filter(Boolean).join(' ') }) : null);
    }) : h('li', { className: 'muted', textContent: links.status === 'fulfilled' ? 'No links.' : 'Links are not available.' }));
    replace($('#msg-codes'), codeItems.length ? codeItems.map((item) => {
      const code = typeof item === 'string' ? item : String(item?.Code ?? item?.code ?? '');
      const context = typeof item === 'object' ? (item?.Context ?? item?.context ?? '') : '';
      return h('li', null,
        h('code', { className: 'code', textContent: code }),
        copyButton(code, `Copy code ${code}`),
        context ? h('span', { className: 'muted context', textContent: context }) : null);
    }) : h('li', { className: 'muted', textContent: codes.status === 'fulfilled' ? 'No codes found.' : 'Codes are not available.' }));
  }

  /**
   * Asks the catcher to request every link of the message (Mailpit's link check) and shows each link's status
   * beside it; links the check found that the list does not show (images, stylesheets) are listed after them.
   */
  async checkLinks() {
    if (!this.message) return;
    const token = this.token;
    const button = $('#link-check');
    const summary = $('#link-check-summary');
    button.disabled = true;
    summary.textContent = 'Checking…';
    try {
      const result = await api.linkCheck(this.message.ID, $('#link-check-follow').checked);
      if (token !== this.token) return;
      const list = $('#msg-links');
      const rows = new Map([...list.querySelectorAll('li[data-url]')].map((li) => [li.dataset.url, li]));
      for (const link of result?.Links ?? []) {
        let row = rows.get(link.URL);
        if (!row) {
          list.querySelector('li.muted')?.remove();
          const href = safeHref(link.URL);
          row = h('li', { dataset: { url: link.URL } },
            href ? h('a', { href, textContent: link.URL, target: '_blank', rel: 'noopener noreferrer' }) : h('span', { textContent: link.URL }));
          list.append(row);
          rows.set(link.URL, row);
        }
        row.querySelector('.link-status')?.remove();
        const failed = !link.StatusCode || link.StatusCode >= 400;
        row.insertBefore(h('span', {
          className: `link-status ${failed ? 'failed' : 'ok'}`,
          textContent: link.StatusCode ? `${link.StatusCode} ${link.Status ?? ''}`.trim() : (link.Status || 'no answer'),
        }), row.children[1] ?? null);
      }
      const count = result?.Links?.length ?? 0;
      const errors = result?.Errors ?? 0;
      summary.textContent = count === 0 ? 'No links to check.' : `${count} checked, ${errors} failed.`;
    } catch (error) {
      if (token === this.token) summary.textContent = `The check failed: ${error.message ?? error}`;
    } finally {
      if (token === this.token) button.disabled = false;
    }
  }

  select(name, focus = true, chosen = true) {
    this.tab = name;
    if (chosen) this.preferred = name;
    for (const tab of this.tabs) {
      const on = tab.dataset.tab === name;
      tab.setAttribute('aria-selected', String(on));
      tab.tabIndex = on ? 0 : -1;
      $(`#${tab.getAttribute('aria-controls')}`).hidden = !on;
      if (on && focus && document.activeElement?.getAttribute('role') === 'tab') tab.focus();
    }
    if (this.message) this.loadTab(name);
  }

  tabKey(event) {
    const at = this.tabs.indexOf(event.currentTarget);
    let next = -1;
    if (event.key === 'ArrowRight') next = (at + 1) % this.tabs.length;
    else if (event.key === 'ArrowLeft') next = (at - 1 + this.tabs.length) % this.tabs.length;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = this.tabs.length - 1;
    if (next < 0) return;
    event.preventDefault();
    this.tabs[next].focus();
    this.select(this.tabs[next].dataset.tab);
  }

  async loadTab(name) {
    const m = this.message;
    if (this.loaded.has(name)) return;
    const token = this.token;
    if (name === 'source') {
      this.loaded.add(name);
      $('#msg-source').textContent = 'Loading…';
      try {
        const raw = await api.raw(m.ID);
        if (token !== this.token) return;
        $('#msg-source').textContent = raw.length > sourceDisplayLimit
          ? `${raw.slice(0, sourceDisplayLimit)}\n\n[… ${formatSize(raw.length - sourceDisplayLimit)} more: download the .eml to see it all]`
          : raw;
      } catch (error) {
        this.loaded.delete(name);
        if (token === this.token) $('#msg-source').textContent = `Could not load the source: ${error.message}`;
      }
    } else if (name === 'headers') {
      this.loaded.add(name);
      const body = $('#msg-headers tbody');
      try {
        const headers = await api.headers(m.ID);
        if (token !== this.token) return;
        const rows = [];
        for (const [header, values] of Object.entries(headers ?? {})) {
          for (const value of Array.isArray(values) ? values : [values]) {
            rows.push(h('tr', null, h('th', { scope: 'row', textContent: header }), h('td', { textContent: String(value) })));
          }
        }
        replace(body, rows);
      } catch (error) {
        this.loaded.delete(name);
        if (token === this.token) replace(body, h('tr', null, h('td', { textContent: `Could not load the headers: ${error.message}` })));
      }
    }
  }

  loadRemote() {
    if (!this.message) return;
    this.remote = true;
    this.frame.src = api.htmlViewUrl(this.message.ID, true);
    $('#html-open').href = api.htmlViewUrl(this.message.ID, true);
    $('#remote-note').hidden = true;
  }

  /** Applies an `update` event (read state or tags) to the open message. */
  update(data) {
    if (!this.message || data?.ID !== this.message.ID) return;
    if (Array.isArray(data.Tags)) {
      this.message.Tags = data.Tags;
      this.renderTags();
    }
  }

  async markUnread() {
    if (!this.message) return;
    try {
      await api.setRead([this.message.ID], false);
      this.onReadChanged(this.message.ID, false);
      this.toast('Marked unread');
    } catch (error) {
      this.onError(error);
    }
  }

  async remove() {
    if (!this.message) return;
    const id = this.message.ID;
    try {
      await api.delete([id]);
      this.onDeleted(id);
    } catch (error) {
      this.onError(error);
    }
  }

  async addTag() {
    const input = $('#msg-tag-input');
    const tag = input.value.trim();
    if (!tag || !this.message) return;
    const tags = this.message.Tags ?? [];
    if (!tags.some((t) => t.toLowerCase() === tag.toLowerCase())) await this.setTags([...tags, tag]);
    input.value = '';
  }

  async setTags(tags) {
    const m = this.message;
    try {
      await api.setTags([m.ID], tags);
      m.Tags = tags;
      this.renderTags();
      this.onTagsChanged(m.ID, tags);
    } catch (error) {
      this.onError(error);
    }
  }
}
