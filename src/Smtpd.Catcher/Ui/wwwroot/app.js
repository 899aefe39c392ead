// The smtpd inbox: wires the list, the message view, search, live updates, the keyboard and the theme together.
// The address bar holds the state (?mailbox= the named mailbox, &q= the search, &m= the open message), so every view
// can be shared or reloaded.

import { api, setMailbox } from './api.js';
import { $, h, replace, formatCount, displayName, copyButton, isTyping } from './dom.js';
import { MessageList } from './list.js';
import { MessageView } from './message.js';
import { connectLive } from './live.js';
import { MailboxSwitcher, defaultMailboxLabel } from './mailboxes.js';

const layout = $('#layout');
const state = { mailbox: '', query: '', total: 0, unread: 0, matching: 0, matchingUnread: 0, tags: [], label: '', hideDeleteAll: false };
const splitView = window.matchMedia('(min-width: 900px)');

// ---- toasts and confirmation -------------------------------------------------------------------------------

let toastTimer = 0;
function toast(text) {
  const box = $('#toast');
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 3500);
}

function showError(error) {
  if (error?.name === 'AbortError') return;
  toast(error?.status === 401 ? 'The catcher asks for a password: reload the page to sign in.' : `Request failed: ${error?.message ?? error}`);
}

/** Asks before something that cannot be undone; resolves true only on the confirming button. */
function confirmAction(text, okLabel) {
  const dialog = $('#confirm');
  $('#confirm-text').textContent = text;
  $('#confirm-ok').textContent = okLabel;
  dialog.returnValue = 'cancel';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.showModal();
    $('#confirm-cancel').focus();
  });
}

// ---- counts, title and the empty inbox ---------------------------------------------------------------------

function renderCounts() {
  const inMailbox = state.mailbox ? ` in ${state.mailbox}` : '';
  const counts = state.query
    ? `${formatCount(state.matching)} of ${formatCount(state.total)}${inMailbox} match`
    : `${formatCount(state.total)} message${state.total === 1 ? '' : 's'}${inMailbox}, ${formatCount(state.unread)} unread`;
  $('#counts').textContent = counts;
  const unread = state.unread > 0 ? `(${formatCount(state.unread)}) ` : '';
  const where = state.query ? `${state.query} · ` : '';
  const mailbox = state.mailbox ? `${state.mailbox} · ` : '';
  document.title = `${unread}${where}${formatCount(state.total)} messages · ${mailbox}${state.label || 'smtpd'}`;
  $('#all-delete').textContent = state.query ? `Delete ${formatCount(state.matching)} matching` : 'Delete all';
  $('#all-delete').disabled = (state.query ? state.matching : state.total) === 0;
  $('#all-delete').hidden = state.hideDeleteAll && !state.query;
  $('#all-read').disabled = (state.query ? state.matchingUnread : state.unread) === 0;
  const empty = list.loaded && list.count === 0;
  $('#empty').hidden = !empty;
  $('#list').hidden = empty;
  $('#empty-inbox').hidden = !!state.query;
  $('#empty-search').hidden = !state.query;
  $('#empty-title').textContent = state.query ? 'No matches' : 'No messages yet';
  $('#empty-query').textContent = state.query;
  // An empty named mailbox says what it collects: its rules, the one thing that decides what will arrive in it.
  $('#empty-mailbox').hidden = !state.mailbox;
  $('#empty-mailbox-name').textContent = state.mailbox;
  $('#empty-mailbox-rules').textContent = mailboxes.rules(state.mailbox).join(', ');
  $('#empty-clear').textContent = state.mailbox ? `Show all messages in ${state.mailbox}` : 'Show all messages';
  $('#home').title = state.mailbox ? `All messages in ${state.mailbox}` : defaultMailboxLabel;
  // Their clicks clear the search in place; their addresses (a new tab, a copied link) stay in the mailbox too.
  const home = state.mailbox ? `?${urlParams({ mailbox: state.mailbox })}` : './';
  $('#home').href = home;
  $('#empty-clear').href = home;
}

function renderTags() {
  const bar = $('#tags');
  bar.hidden = state.tags.length === 0;
  replace(bar, state.tags.map((tag) => {
    const query = /\s/.test(tag) ? `tag:"${tag}"` : `tag:${tag}`;
    return h('a', {
      className: 'tag filter',
      href: `?${urlParams({ mailbox: state.mailbox, q: query })}`,
      textContent: tag,
      attrs: { 'aria-current': state.query === query ? 'true' : null },
      on: { click: (event) => { event.preventDefault(); search(state.query === query ? '' : query); } },
    });
  }));
}

function onSummary(result) {
  state.total = Number(result.total ?? 0);
  state.unread = Number(result.unread ?? 0);
  state.matching = Number(result.messages_count ?? 0);
  state.matchingUnread = Number(result.messages_unread ?? result.unread ?? 0);
  if (Array.isArray(result.tags)) {
    const changed = result.tags.join('\u0000') !== state.tags.join('\u0000');
    state.tags = result.tags;
    if (changed) renderTags();
  }
  renderCounts();
}

async function describeSmtp() {
  const [info, webui] = await Promise.allSettled([api.info(), api.webui()]);
  const i = info.status === 'fulfilled' ? info.value : {};
  const w = webui.status === 'fulfilled' ? webui.value : {};
  state.label = typeof w.Label === 'string' ? w.Label : '';
  state.hideDeleteAll = w.HideDeleteAllButton === true;
  // smtpd's addition to Mailpit's webui answer: Smtpd.SmtpListeners, the SMTP listeners as HOST:PORT.
  const listeners = w.Smtpd?.SmtpListeners ?? i.Smtpd?.SmtpListeners;
  const candidates = [...(Array.isArray(listeners) ? listeners : []), w.Smtpd?.SmtpAddress, i.Smtpd?.SmtpAddress];
  const address = candidates.find((value) => typeof value === 'string' && value.length > 0 && value.length < 200) ?? '127.0.0.1:2525';
  $('#smtp-address').textContent = address;
  const send = `smtpd send --server ${address} --to you@example.com --subject "Hello from smtpd"`;
  const swaks = `swaks --server ${address} --to you@example.com --from app@example.com --header "Subject: Hello from swaks"`;
  $('#send-command').textContent = send;
  $('#swaks-command').textContent = swaks;
  replace($('#send-copy'), copyButton(send, 'Copy the smtpd send command'));
  replace($('#swaks-copy'), copyButton(swaks, 'Copy the swaks command'));
  renderCounts();
}

// ---- the list and the message ------------------------------------------------------------------------------

const list = new MessageList($('#list'), {
  onOpen: (message, index) => openMessage(message.ID, { index, push: true, focus: !splitView.matches }),
  onSummary,
  onSelection: renderSelection,
  onError: showError,
});

const view = new MessageView({
  onDeleted: (id) => afterDelete([id]),
  onNavigate: (delta) => step(delta),
  onTagsChanged: (id, tags) => list.update({ ID: id, Tags: tags }),
  onReadChanged: (id, read) => list.update({ ID: id, Read: read }),
  onError: showError,
  toast,
});

const mailboxes = new MailboxSwitcher($('#mailbox-box'), $('#mailbox'), {
  onChange: (name) => switchMailbox(name, true),
});

// Asked for at once, beside the first page of the list; only an address that names a mailbox waits for it.
const mailboxesLoaded = mailboxes.load().catch(() => false);

let countsTimer = 0;
/** Refetches the mailboxes' counts: the stats events count the whole store, and the switcher shows each mailbox. */
function refreshMailboxesSoon() {
  if (!mailboxes.any || countsTimer) return;
  countsTimer = setTimeout(async () => {
    countsTimer = 0;
    try {
      if (!(await mailboxes.load())) return;
    } catch {
      return; // The counts stay as they were; the next event tries again.
    }
    const counts = mailboxes.counts(state.mailbox);
    if (state.mailbox && counts) {
      state.total = counts.total;
      state.unread = counts.unread;
      if (!state.query) state.matching = state.total;
      renderCounts();
    }
  }, 150);
}

function renderSelection(selected) {
  const count = selected.size;
  $('#selection-actions').hidden = count === 0;
  $('#all-actions').hidden = count > 0;
  $('#selection-count').textContent = `${formatCount(count)} selected`;
  $('#pick-visible').checked = count > 0;
}

async function openMessage(id, { index = -1, push = false, focus = false } = {}) {
  layout.classList.add('viewing');
  list.setOpen(id);
  if (index >= 0) list.cursor = index;
  else {
    const found = list.indexOf(id);
    if (found >= 0) list.cursor = found;
  }
  writeUrl({ q: state.query, m: id }, push);
  const opened = await view.open(id);
  if (!opened) {
    if (view.id === null) closeMessage(false);
    return;
  }
  if (focus) $('#msg-subject').focus({ preventScroll: false });
}

function closeMessage(updateUrl = true) {
  view.close();
  list.setOpen(null);
  layout.classList.remove('viewing');
  if (updateUrl) writeUrl({ q: state.query }, false);
}

let stepTimer = 0;
/** Moves to the next (1) or previous (-1) message in the list; opens it when a message is shown or the view is split. */
function step(delta) {
  const index = list.move(delta);
  if (index < 0) return;
  if (!view.id && !splitView.matches) return;
  clearTimeout(stepTimer);
  // Holding j down runs through many rows: open only the one the reader stops on.
  stepTimer = setTimeout(async () => {
    const message = await list.ensure(index);
    if (message && message.ID !== view.id) openMessage(message.ID, { index, push: false });
  }, 120);
}

async function afterDelete(ids) {
  const removed = new Set(ids);
  for (const id of ids) list.selected.delete(id);
  renderSelection(list.selected);
  if (view.id && removed.has(view.id)) {
    const index = list.cursor;
    closeMessage();
    await list.refresh();
    const next = await list.ensure(Math.min(index, list.count - 1));
    if (next && splitView.matches) openMessage(next.ID, { index: Math.min(index, list.count - 1) });
    else list.reveal(Math.min(index, list.count - 1));
  } else {
    await list.refresh();
  }
  toast(ids.length === 1 ? 'Message deleted' : `${formatCount(ids.length)} messages deleted`);
}

// ---- search and the address bar ----------------------------------------------------------------------------

/** The address's query for a view: the mailbox first, then the search and the open message, each only when set. */
function urlParams({ mailbox, q, m }) {
  const search = new URLSearchParams();
  if (mailbox) search.set('mailbox', mailbox);
  if (q) search.set('q', q);
  if (m) search.set('m', m);
  return search;
}

function writeUrl(params, push) {
  const text = urlParams({ mailbox: state.mailbox, ...params }).toString();
  const url = text ? `?${text}` : location.pathname;
  if (url === `${location.search}` || (url === location.pathname && !location.search)) return;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

async function search(query) {
  query = query.trim();
  $('#search').value = query;
  state.query = query;
  list.clearSelection();
  closeMessage(false);
  writeUrl({ q: query }, true);
  renderTags();
  await list.show(query, state.mailbox);
}

/** Shows another mailbox ('' for the default), keeping the search: the list, the counts and the live events follow. */
async function switchMailbox(name, push) {
  const changed = name !== state.mailbox;
  state.mailbox = name;
  setMailbox(name);
  mailboxes.show(name);
  list.clearSelection();
  closeMessage(false);
  writeUrl({ q: state.query }, push);
  // The live events are per mailbox (?mailbox= on the WebSocket): reconnect, or new mail of another mailbox would
  // still refresh this list, and this mailbox's own deletes would never arrive.
  if (changed || !live) startLive();
  // Until the list answers, the switcher's own counts of the mailbox are the best there are.
  const counts = mailboxes.counts(name);
  if (counts) {
    state.total = counts.total;
    state.unread = counts.unread;
  }
  renderCounts();
  await list.show(state.query, name);
}

/** The mailbox an address names, once the mailboxes are known; an unknown one falls back to the default, said aloud. */
async function mailboxFromUrl(requested) {
  if (!requested) return '';
  try {
    await mailboxesLoaded;
  } catch {
    // Answered below: without the list no name can be checked, so none is trusted.
  }
  const name = mailboxes.find(requested);
  if (name === null) toast(`There is no mailbox named “${requested}”; showing all messages.`);
  return name ?? '';
}

async function applyUrl() {
  const params = new URLSearchParams(location.search);
  const query = params.get('q') ?? '';
  const id = params.get('m');
  const mailbox = await mailboxFromUrl(params.get('mailbox') ?? '');
  $('#search').value = query;
  if (mailbox !== state.mailbox || !live) {
    state.query = query;
    renderTags();
    // A corrected or canonical name replaces the address's, so what is shared afterwards is what is shown.
    await switchMailbox(mailbox, false);
  } else if (query !== state.query || !list.loaded) {
    state.query = query;
    renderTags();
    await list.show(query, state.mailbox);
  }
  if (id) {
    if (id !== view.id) openMessage(id, { push: false });
  } else if (view.id) {
    closeMessage(false);
  }
}

$('#search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  search($('#search').value);
});
$('#search').addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
    event.currentTarget.blur();
    $('#list').focus();
  }
});
$('#search-help-toggle').addEventListener('click', (event) => {
  const help = $('#search-help');
  help.hidden = !help.hidden;
  event.currentTarget.setAttribute('aria-expanded', String(!help.hidden));
});
$('#home').addEventListener('click', (event) => {
  event.preventDefault();
  search('');
});
$('#empty-clear').addEventListener('click', (event) => {
  event.preventDefault();
  search('');
});
$('#msg-back').addEventListener('click', () => {
  closeMessage();
  list.reveal(Math.max(list.cursor, 0));
});
window.addEventListener('popstate', () => applyUrl());

// ---- list actions ------------------------------------------------------------------------------------------

$('#pick-visible').addEventListener('change', (event) => list.pickVisible(event.currentTarget.checked));
$('#selection-clear').addEventListener('click', () => list.clearSelection());
$('#selection-read').addEventListener('click', () => markSelection(true));
$('#selection-unread').addEventListener('click', () => markSelection(false));
$('#selection-delete').addEventListener('click', () => deleteSelection(true));

async function markSelection(read) {
  const ids = [...list.selected];
  try {
    await api.setRead(ids, read);
    for (const id of ids) list.update({ ID: id, Read: read });
    list.clearSelection();
  } catch (error) {
    showError(error);
  }
}

async function deleteSelection(ask) {
  const ids = [...list.selected];
  if (ids.length === 0) return;
  if (ask && !(await confirmAction(`Delete ${formatCount(ids.length)} selected message${ids.length === 1 ? '' : 's'}? This cannot be undone.`, 'Delete'))) return;
  try {
    await api.delete(ids);
    await afterDelete(ids);
  } catch (error) {
    showError(error);
  }
}

$('#all-read').addEventListener('click', async () => {
  try {
    await api.setAllRead(state.query);
    await list.refresh();
  } catch (error) {
    showError(error);
  }
});

$('#all-delete').addEventListener('click', async () => {
  const query = state.query;
  // In a named mailbox a delete takes the messages out of that mailbox: a copy routed to another mailbox stays.
  const where = state.mailbox ? ` in ${state.mailbox}` : '';
  const undo = state.mailbox ? 'This cannot be undone; messages that are also in another mailbox stay there.' : 'This cannot be undone.';
  const text = query
    ? `Delete the ${formatCount(state.matching)} messages${where} matching “${query}”? ${undo}`
    : `Delete all ${formatCount(state.total)} messages${where}? ${undo}`;
  if (!(await confirmAction(text, query ? 'Delete matching' : 'Delete all'))) return;
  try {
    if (query) await api.deleteSearch(query);
    else await api.deleteAll();
    list.clearSelection();
    closeMessage();
    await list.refresh();
    toast(query ? 'Matching messages deleted' : 'All messages deleted');
  } catch (error) {
    showError(error);
  }
});

// ---- keyboard ----------------------------------------------------------------------------------------------

document.addEventListener('keydown', (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  if ($('#confirm').open || isTyping(event)) return;
  const onTab = event.target instanceof Element && event.target.getAttribute('role') === 'tab';
  switch (event.key) {
    case '/':
      event.preventDefault();
      $('#search').focus();
      $('#search').select();
      break;
    case 'j':
      event.preventDefault();
      step(1);
      break;
    case 'k':
      event.preventDefault();
      step(-1);
      break;
    case 'x':
      list.toggleCurrent();
      break;
    case 'Delete':
      event.preventDefault();
      if (list.selected.size > 0) deleteSelection(list.selected.size > 1);
      else if (view.id) view.remove();
      else {
        const message = list.messageAt(list.cursor);
        if (message) api.delete([message.ID]).then(() => afterDelete([message.ID]), showError);
      }
      break;
    case 'Enter': {
      if (onTab || !(event.target === document.body || event.target === $('#list'))) return;
      const message = list.messageAt(list.cursor);
      if (message) openMessage(message.ID, { index: list.cursor, push: true, focus: !splitView.matches });
      break;
    }
    case 'Escape':
      if (view.id && !splitView.matches) {
        closeMessage();
        list.reveal(Math.max(list.cursor, 0));
      }
      break;
    default:
  }
});

// ---- theme -------------------------------------------------------------------------------------------------

const themes = ['auto', 'light', 'dark'];
const themeNames = { auto: 'follows the system', light: 'light', dark: 'dark' };
const themeIcons = { auto: 'i i-auto', light: 'i i-sun', dark: 'i i-moon' };

function currentTheme() {
  return document.documentElement.dataset.theme ?? 'auto';
}

function applyTheme(theme) {
  if (theme === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  try {
    if (theme === 'auto') localStorage.removeItem('smtpd-theme');
    else localStorage.setItem('smtpd-theme', theme);
  } catch {
    // Not remembered; it still applies now.
  }
  const label = `Theme: ${themeNames[theme]}`;
  $('#theme-toggle').title = `${label} (click to change)`;
  $('#theme-label').textContent = label;
  $('#theme-icon').className = themeIcons[theme];
}

$('#theme-toggle').addEventListener('click', () => applyTheme(themes[(themes.indexOf(currentTheme()) + 1) % themes.length]));
applyTheme(currentTheme());

// ---- notifications (opt-in) --------------------------------------------------------------------------------

const notifyKey = 'smtpd-notify';
let notify = false;
try {
  notify = localStorage.getItem(notifyKey) === '1' && 'Notification' in window && Notification.permission === 'granted';
} catch {
  notify = false;
}

function renderNotify() {
  const button = $('#notify-toggle');
  const supported = 'Notification' in window;
  button.disabled = !supported || (supported && Notification.permission === 'denied');
  button.setAttribute('aria-pressed', String(notify));
  button.title = !supported ? 'This browser has no desktop notifications'
    : Notification.permission === 'denied' ? 'Notifications are blocked in the browser settings'
      : notify ? 'Desktop notifications are on (click to turn off)' : 'Desktop notifications are off (click to turn on)';
}

$('#notify-toggle').addEventListener('click', async () => {
  if (!notify && Notification.permission !== 'granted') {
    const permission = await Notification.requestPermission();
    if (permission !== 'granted') {
      renderNotify();
      return;
    }
  }
  notify = !notify;
  try {
    localStorage.setItem(notifyKey, notify ? '1' : '0');
  } catch {
    // For this page only.
  }
  renderNotify();
});
renderNotify();

function notifyNew(message) {
  if (!notify || !message || (!document.hidden && document.hasFocus())) return;
  const from = displayName(message.From) || 'unknown sender';
  // Notification text is plain text by specification; it is never parsed as markup.
  const note = new Notification(`New mail from ${from}`, { body: String(message.Subject ?? '').slice(0, 120), tag: 'smtpd-new' });
  note.addEventListener('click', () => {
    window.focus();
    openMessage(message.ID, { push: true });
    note.close();
  });
}

// ---- live updates ------------------------------------------------------------------------------------------

let refreshTimer = 0;
function refreshSoon() {
  // A burst of events (a load test, delete-all) becomes one refetch of the rows in view.
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = 0;
    list.refresh();
  }, 150);
}

const statusText = { connecting: 'Connecting…', live: 'Live', offline: 'Offline' };
const liveHandlers = {
  onStatus(status, seconds) {
    const box = $('#conn');
    box.dataset.state = status;
    $('#conn-text').textContent = status === 'offline' && seconds ? `Offline, retrying in ${seconds} s` : statusText[status];
    box.title = status === 'live' ? 'New messages appear as they arrive' : 'Live updates are paused; the list still works';
  },
  onResync: () => {
    list.refresh();
    refreshMailboxesSoon();
  },
  onEvent(type, data) {
    switch (type) {
      case 'new':
        refreshSoon();
        notifyNew(data);
        break;
      case 'update':
        list.update(data);
        view.update(data);
        if (data && 'Read' in data) refreshSoon();
        break;
      case 'delete':
        if (view.id && data?.ID === view.id) {
          closeMessage();
          toast('The open message was deleted');
        }
        refreshSoon();
        break;
      case 'truncate':
        closeMessage();
        list.clearSelection();
        refreshSoon();
        break;
      case 'prune':
        refreshSoon();
        break;
      case 'stats':
        // Every change is followed by a stats event (rate-limited by the catcher), so this is where the
        // switcher's counts follow too.
        refreshMailboxesSoon();
        // The stats count the whole store: in a named mailbox its own counts come from the list and the switcher.
        if (data && !state.mailbox) {
          state.total = Number(data.Total ?? state.total);
          state.unread = Number(data.Unread ?? state.unread);
          if (!state.query) state.matching = state.total;
          renderCounts();
        }
        break;
      default:
    }
  },
};

let live = null;
/** (Re)connects the live events for the mailbox now shown. */
function startLive() {
  live?.stop();
  live = connectLive(liveHandlers);
}

splitView.addEventListener('change', () => list.schedule());
describeSmtp();
applyUrl();
