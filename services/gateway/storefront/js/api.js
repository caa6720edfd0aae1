// The one way the storefront talks to the gateway: JSON over fetch with the bearer
// token, errors as ApiError with the contract's `{error: {code, message, details}}`.

import { current, signOut } from './session.js';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message || `request failed (${status})`);
    this.status = status;
    this.code = body?.error?.code ?? null;
    this.details = body?.error?.details ?? null;
  }
}

/** The Authorization header of the signed-in user, if any. */
export function authHeaders() {
  const session = current();
  return session ? { Authorization: `Bearer ${session.token}` } : {};
}

/** Sends a request; resolves to `{status, headers, data}`, rejects with ApiError. */
export async function api(method, path, body, extraHeaders = {}) {
  const headers = { Accept: 'application/json', ...authHeaders(), ...extraHeaders };
  const init = { method, headers };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const type = response.headers.get('content-type') || '';
  const data = type.includes('application/json') ? await response.json() : null;
  if (!response.ok) {
    if (response.status === 401 && current()) signOut();
    throw new ApiError(response.status, data);
  }
  return { status: response.status, headers: response.headers, data };
}

/** A query string from an object, leaving out empty values. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== '' && value !== null && value !== undefined) search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

/**
 * Follows a command (`/api/commands/{id}`) until it is no longer pending; resolves to
 * its outcome when it succeeded, rejects with ApiError(409, outcome) when it failed.
 */
export async function follow(commandId, { tries = 6 } = {}) {
  for (let i = 0; i < tries; i += 1) {
    const { data } = await api('GET', `/api/commands/${encodeURIComponent(commandId)}?wait=10`);
    if (data.status === 'succeeded') return data;
    if (data.status === 'failed') throw new ApiError(409, { error: data.error });
  }
  throw new ApiError(504, { error: { code: 'timeout', message: 'the command is still pending' } });
}

/** A user-facing sentence for an error. */
export function explain(error) {
  if (error instanceof ApiError) {
    const messages = {
      unauthorized: 'Please sign in (again).',
      forbidden: 'You may not do this.',
      not_found: 'Not found.',
      rate_limited: 'Too many attempts; wait a minute and try again.',
      broker_unavailable: 'The shop is busy; try again shortly.',
      timeout: 'The shop did not answer in time; try again.',
      sku_taken: 'A product with this SKU exists already.',
      email_taken: 'This email is registered already.',
      insufficient_stock: 'Not enough stock for this change.',
      cart_empty: 'Your cart is empty.',
      cart_has_inactive_products: 'Remove the products that are no longer sold first.',
      product_inactive: 'This product is no longer sold.',
      invalid_quantity: 'A line holds 1 to 1,000 units.',
      too_many_lines: 'A cart holds at most 50 products.',
    };
    return messages[error.code] ?? error.message;
  }
  return 'Could not reach the shop. Check your connection and try again.';
}
