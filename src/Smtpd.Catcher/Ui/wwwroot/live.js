// Live updates over the API's WebSocket (/api/events), whose frames are Mailpit's {"Type": ..., "Data": ...}.
// The URL carries the page's mailbox (?mailbox=, from api.js), so a view of one mailbox gets its events only;
// switching mailboxes stops this connection and opens another. The connection is retried with exponential backoff
// and jitter (1 s doubling to 30 s), so a restarted catcher is found again without a storm of reconnects; after any
// gap the caller reloads, because events were missed.

import { eventsUrl } from './api.js';

const firstDelay = 1000;
const maxDelay = 30000;

/**
 * Connects and keeps connecting. `onEvent(type, data)` gets each frame; `onStatus(state, detail)` gets
 * 'connecting', 'live' and 'offline' (detail: seconds until the next try); `onResync()` runs when a connection
 * opens after an earlier one was lost.
 */
export function connectLive({ onEvent, onStatus, onResync }) {
  let attempt = 0;
  let wasConnected = false;
  let countdown = 0;
  let stopped = false;
  let socket = null;

  function open() {
    if (stopped) return;
    onStatus('connecting');
    try {
      socket = new WebSocket(eventsUrl());
    } catch {
      retry();
      return;
    }
    socket.addEventListener('open', () => {
      if (stopped) return;
      attempt = 0;
      onStatus('live');
      if (wasConnected) onResync();
      wasConnected = true;
    });
    socket.addEventListener('message', (message) => {
      // Frames already queued when the page switched mailboxes belong to the old view.
      if (stopped) return;
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return; // A frame that is not JSON is not ours to act on.
      }
      if (frame && typeof frame.Type === 'string') onEvent(frame.Type, frame.Data ?? null);
    });
    socket.addEventListener('close', () => {
      socket = null;
      retry();
    });
    // An error is always followed by close, which retries.
  }

  function retry() {
    if (stopped) return;
    const delay = Math.min(maxDelay, firstDelay * 2 ** attempt) * (0.75 + Math.random() * 0.5);
    attempt++;
    let remaining = Math.ceil(delay / 1000);
    onStatus('offline', remaining);
    clearInterval(countdown);
    countdown = setInterval(() => {
      remaining--;
      if (remaining > 0) onStatus('offline', remaining);
    }, 1000);
    setTimeout(() => {
      clearInterval(countdown);
      open();
    }, delay);
  }

  open();
  return {
    stop() {
      stopped = true;
      clearInterval(countdown);
      socket?.close();
    },
  };
}
