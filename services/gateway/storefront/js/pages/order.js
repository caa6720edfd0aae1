// One order, followed live: its history from GET /api/orders/{id} (each step with its
// time: placed, stock reserved, paid, then confirmed or cancelled), then the status
// stream GET /api/orders/{id}/events. Each status event reads the order again, so the
// timeline shows the steps with the times the services recorded; the page never reloads. The stream is read with fetch() (it needs the
// bearer header) and reopened if the gateway closes it before a terminal status.

import { api, explain } from '../api.js';
import { h, heading, notice, put } from '../dom.js';
import { dateTime, money, reason, TERMINAL } from '../format.js';
import { current } from '../session.js';
import { readEvents } from '../stream.js';

const STATUS_WORDS = {
  PENDING: 'Pending',
  CONFIRMED: 'Confirmed',
  SHIPPED: 'Shipped',
  DELIVERED: 'Delivered',
  CANCELLED: 'Cancelled',
  REJECTED: 'Rejected',
};

export async function render(main, { id }) {
  if (!current()) {
    put(main, heading('Order'), notice('info', h('a', { href: `/signin?next=${encodeURIComponent(location.pathname)}` }, 'Sign in'), ' to see your order.'));
    return undefined;
  }
  const path = `/api/orders/${encodeURIComponent(id)}`;
  const stopped = new AbortController();
  const badge = h('p', { class: 'status-line', 'aria-live': 'polite' });
  const timeline = h('ol', { class: 'timeline', 'aria-label': 'Order timeline' });
  const details = h('div', { class: 'order-details' });
  const live = h('p', { class: 'live hint', 'aria-live': 'off' }, 'Connecting to live updates…');
  put(main, h('p', { class: 'crumbs' }, h('a', { href: '/orders' }, '← My orders')),
    heading('Order'), badge, live,
    h('section', { 'aria-labelledby': 'timeline-title' }, h('h2', { id: 'timeline-title' }, 'Timeline'), timeline),
    details);

  let shown = null;
  const show = (order) => {
    shown = order;
    put(badge, 'Status: ', h('strong', { class: `badge badge-${order.status.toLowerCase()}`, 'data-status': order.status },
      STATUS_WORDS[order.status] ?? order.status),
    order.cancelReason ? h('span', { class: 'reason' }, ` — ${reason(order.cancelReason)}`) : null,
    order.rejectReason ? h('span', { class: 'reason' }, ` — ${reason(order.rejectReason)}`) : null);
    put(timeline, steps(order));
    put(details, summary(order));
  };

  // The order may not be readable for a few milliseconds after it was placed.
  const read = async () => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return (await api('GET', path)).data;
      } catch (error) {
        if (error.status !== 404 || attempt >= 20 || stopped.signal.aborted) throw error;
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    }
  };
  try {
    show(await read());
  } catch (error) {
    put(main, heading('Order'), notice('error', explain(error)));
    return undefined;
  }

  const onEvent = async ({ event, data }) => {
    if (event !== 'status') return;
    let change;
    try {
      change = JSON.parse(data);
    } catch {
      return;
    }
    if (shown && change.status === shown.status && shown.history.length) return;
    try {
      show(await read());
    } catch {
      // The stream's own word is enough to move the badge on.
      show({ ...shown, ...change, history: [...shown.history, { from: shown.status, to: change.status, reason: change.cancelReason ?? change.rejectReason ?? null, at: new Date().toISOString() }] });
    }
  };
  follow(`${path}/events`, onEvent, stopped.signal, () => shown, live);
  return () => stopped.abort();
}

/** Reads the stream until a terminal status, reconnecting when it closes earlier. */
async function follow(path, onEvent, signal, shown, live) {
  let delay = 500;
  while (!signal.aborted && !TERMINAL.has(shown().status)) {
    try {
      live.textContent = 'Live: updates appear here as they happen.';
      await readEvents(path, { onEvent, signal });
      delay = 500;
    } catch (error) {
      live.textContent = `Live updates interrupted (${explain(error)}); retrying…`;
      delay = Math.min(delay * 2, 10000);
    }
    if (signal.aborted || TERMINAL.has(shown().status)) break;
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
  if (!signal.aborted) live.textContent = 'This order is final.';
}

/**
 * The order's history as steps, oldest first, with what is still to come: its status
 * changes, and between them the saga's two middle steps, which are not statuses.
 */
function steps(order) {
  const changes = order.history.map((change) => ({
    key: change.to,
    label: change.from === null || change.from === undefined ? 'Order placed' : labelFor(change),
    at: change.at,
  }));
  const middle = [
    order.stockReservedAt && { key: 'STOCK_RESERVED', label: 'Stock reserved', at: order.stockReservedAt },
    order.paidAt && { key: 'PAID', label: 'Paid', at: order.paidAt },
  ].filter(Boolean);
  // Stable: a step reported in the same millisecond as a status change stays after it.
  const all = [...changes, ...middle].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const items = all.map((step) => h('li', { class: `step step-${step.key.toLowerCase()}`, 'data-step': step.key },
    h('span', { class: 'step-label' }, step.label),
    h('time', { datetime: step.at }, dateTime(step.at))));
  if (order.status === 'PENDING') {
    const waiting = order.stockReservedAt ? 'Taking payment…' : 'Reserving stock and taking payment…';
    items.push(h('li', { class: 'step step-waiting', 'aria-busy': 'true' },
      h('span', { class: 'step-label' }, waiting)));
  }
  return items;
}

function labelFor(change) {
  switch (change.to) {
    case 'CONFIRMED':
      return 'Confirmed';
    case 'CANCELLED':
      return `Cancelled: ${reason(change.reason)}`;
    case 'REJECTED':
      return `Rejected: ${reason(change.reason)}`;
    case 'SHIPPED':
      return 'Shipped';
    case 'DELIVERED':
      return 'Delivered';
    default:
      return `${STATUS_WORDS[change.to] ?? change.to}${change.reason ? `: ${reason(change.reason)}` : ''}`;
  }
}

function summary(order) {
  const address = order.shippingAddress;
  return [
    h('h2', {}, 'Items'),
    h('table', { class: 'lines' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col' }, 'Quantity'),
        h('th', { scope: 'col' }, 'Price'), h('th', { scope: 'col' }, 'Total'))),
      h('tbody', {}, order.items.map((line) => h('tr', {},
        h('td', {}, h('a', { href: `/products/${encodeURIComponent(line.productId)}` }, line.name)),
        h('td', {}, String(line.quantity)),
        h('td', {}, money(line.unitPriceCents, order.currency)),
        h('td', {}, money(line.lineTotalCents, order.currency))))),
      h('tfoot', {}, h('tr', {}, h('th', { scope: 'row', colspan: '3' }, 'Total'),
        h('td', { class: 'order-total' }, money(order.totalCents, order.currency))))),
    address ? h('section', {}, h('h2', {}, 'Shipping to'),
      h('address', {}, [address.name, address.line1, address.line2, `${address.postalCode} ${address.city}`, address.country]
        .filter(Boolean).flatMap((part, i) => (i ? [h('br'), part] : [part])))) : null,
    h('p', { class: 'hint' }, 'Order ', h('code', {}, order.orderId), ', placed ', dateTime(order.createdAt)),
  ];
}
