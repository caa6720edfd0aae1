// Server-Sent Events read with fetch(): EventSource cannot send the Authorization
// header that `GET /api/orders/{id}/events` requires, so the stream is read and parsed
// here (https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation).

import { ApiError, authHeaders } from './api.js';

/**
 * Reads `path` as an event stream, calling `onEvent({event, data})` per event, until
 * the server closes it (resolves) or `signal` aborts (resolves). Rejects with ApiError
 * when the stream is refused, or with the network error.
 */
export async function readEvents(path, { onEvent, signal }) {
  let response;
  try {
    response = await fetch(path, {
      headers: { Accept: 'text/event-stream', ...authHeaders() },
      signal,
      cache: 'no-store',
    });
  } catch (error) {
    if (signal?.aborted) return;
    throw error;
  }
  if (!response.ok) {
    const type = response.headers.get('content-type') || '';
    throw new ApiError(response.status, type.includes('json') ? await response.json() : null);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = eventParser(onEvent);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      parser(value);
    }
  } catch (error) {
    if (!signal?.aborted) throw error;
  }
}

/** A function fed text chunks that calls `onEvent` for each complete event. */
export function eventParser(onEvent) {
  let buffer = '';
  let event = '';
  let data = [];
  return (chunk) => {
    buffer += chunk;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop();
    for (const line of lines) {
      if (line === '') {
        if (data.length) onEvent({ event: event || 'message', data: data.join('\n') });
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'event') event = value;
      else if (name === 'data') data.push(value);
    }
  };
}
