// The Mailpit-compatible API of the same catcher. Every URL is relative to the page, so the inbox works under a
// path base (--base-path /mail/ serves the page at /mail/ and the API at /mail/api/v1/...).

export class ApiError extends Error {
  constructor(status, text) {
    super(text ? `${status}: ${text}` : `HTTP ${status}`);
    this.status = status;
  }
}

const pageDirectory = () => new URL('.', document.baseURI);

/** An absolute URL for an API path relative to the page, with query parameters (undefined and '' are left out). */
export function apiUrl(path, params) {
  const url = new URL(path, pageDirectory());
  if (params) {
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
    }
  }
  return url;
}

// The named mailbox the page shows ('' for the default mailbox, every message). Every route that reads or changes
// messages carries it as ?mailbox=, so the list, a search, a message, its parts, the bulk actions and the live events
// all see the same messages: a route left out would show or delete what the reader cannot see in the list.
let mailbox = '';

/** Limits the message routes (and the live events) to one named mailbox; '' for the default mailbox. */
export function setMailbox(name) {
  mailbox = name || '';
}

const scoped = (params) => (mailbox ? { ...params, mailbox } : params);

/** The WebSocket URL of the live events (of the chosen mailbox), ws: or wss: after the page's own scheme. */
export function eventsUrl() {
  const url = apiUrl('api/events', scoped({}));
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url;
}

async function request(method, path, { params, body, as = 'json', signal } = {}) {
  const init = { method, credentials: 'same-origin', cache: 'no-store', signal, headers: {} };
  if (body !== undefined) {
    // Mutations send JSON: the API refuses a cross-site form post, which cannot carry this content type.
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(apiUrl(path, params), init);
  if (!response.ok) {
    const text = (await response.text().catch(() => '')).trim().slice(0, 300);
    throw new ApiError(response.status, text);
  }
  if (as === 'json') return response.json();
  return response.text();
}

const id = (value) => encodeURIComponent(value);

export const api = {
  /** One page of the list, or of a search when `query` is not empty; newest first. */
  list(query, start, limit, signal) {
    return query
      ? request('GET', 'api/v1/search', { params: scoped({ query, start, limit }), signal })
      : request('GET', 'api/v1/messages', { params: scoped({ start, limit }), signal });
  },
  message: (messageId, signal) => request('GET', `api/v1/message/${id(messageId)}`, { params: scoped({}), signal }),
  headers: (messageId) => request('GET', `api/v1/message/${id(messageId)}/headers`, { params: scoped({}) }),
  raw: (messageId) => request('GET', `api/v1/message/${id(messageId)}/raw`, { params: scoped({}), as: 'text' }),
  links: (messageId) => request('GET', `api/v1/message/${id(messageId)}/links`, { params: scoped({}) }),
  codes: (messageId) => request('GET', `api/v1/message/${id(messageId)}/codes`, { params: scoped({}) }),
  /** Mailpit's link check: a HEAD request to each link, by the catcher; `follow` follows redirects. */
  linkCheck: (messageId, follow) => request('GET', `api/v1/message/${id(messageId)}/link-check`, { params: scoped({ follow: follow ? 'true' : undefined }) }),
  setRead: (ids, read) => request('PUT', 'api/v1/messages', { params: scoped({}), body: { IDs: ids, Read: read }, as: 'text' }),
  setAllRead: (query) => request('PUT', 'api/v1/messages', { params: scoped({}), body: query ? { Read: true, Search: query } : { Read: true }, as: 'text' }),
  // In a named mailbox these take the messages out of that mailbox only (docs/api.md "Mailboxes").
  delete: (ids) => request('DELETE', 'api/v1/messages', { params: scoped({}), body: { IDs: ids }, as: 'text' }),
  deleteAll: () => request('DELETE', 'api/v1/messages', { params: scoped({}), body: {}, as: 'text' }),
  deleteSearch: (query) => request('DELETE', 'api/v1/search', { params: scoped({ query }), as: 'text' }),
  setTags: (ids, tags) => request('PUT', 'api/v1/tags', { body: { IDs: ids, Tags: tags }, as: 'text' }),
  info: () => request('GET', 'api/v1/info'),
  webui: () => request('GET', 'api/v1/webui'),
  /** The named mailboxes with their rules and counts, and the default mailbox's counts (smtpd only). */
  mailboxes: (signal) => request('GET', 'api/v1/mailboxes', { signal }),

  rawDownloadUrl: (messageId) => apiUrl(`api/v1/message/${id(messageId)}/raw`, scoped({ dl: 1 })),
  partUrl: (messageId, partId) => apiUrl(`api/v1/message/${id(messageId)}/part/${id(partId)}`, scoped({})),
  /** The sandboxed HTML view; `remote` asks the view route to leave remote images and styles in. */
  htmlViewUrl: (messageId, remote) => apiUrl(`view/${id(messageId)}.html`, scoped({ embed: 1, remote: remote ? 1 : undefined })),
  textViewUrl: (messageId) => apiUrl(`view/${id(messageId)}.txt`, scoped({})),
};
