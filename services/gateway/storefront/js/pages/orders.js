// The signed-in user's orders, newest first (an admin sees everyone's), paged.

import { api, explain, query } from '../api.js';
import { h, heading, notice, put } from '../dom.js';
import { dateTime, money } from '../format.js';
import { current } from '../session.js';

export async function render(main, { query: params }) {
  if (!current()) {
    put(main, heading('My orders'), notice('info', h('a', { href: '/signin?next=/orders' }, 'Sign in'), ' to see your orders.'));
    return;
  }
  const page = Math.max(1, Number.parseInt(params.get('page') ?? '1', 10) || 1);
  put(main, heading('My orders'), h('p', {}, 'Loading…'));
  let answer;
  try {
    ({ data: answer } = await api('GET', `/api/orders${query({ page, pageSize: 20 })}`));
  } catch (error) {
    put(main, heading('My orders'), notice('error', explain(error)));
    return;
  }
  if (answer.items.length === 0) {
    put(main, heading('My orders'), h('p', {}, 'No orders yet. ', h('a', { href: '/' }, 'Go shopping'), '.'));
    return;
  }
  const pages = Math.max(1, Math.ceil(answer.total / answer.pageSize));
  put(main, heading('My orders'), ordersTable(answer.items),
    h('nav', { class: 'pager', 'aria-label': 'Pages' },
      page > 1 ? h('a', { href: `/orders?page=${page - 1}` }, '← Newer') : null,
      h('span', {}, `Page ${page} of ${pages}`),
      page < pages ? h('a', { href: `/orders?page=${page + 1}` }, 'Older →') : null));
}

/** A table of orders; `extra(order)` adds a last cell (the admin's actions). */
export function ordersTable(orders, extra) {
  return h('div', { class: 'table-wrap' }, h('table', { class: 'orders' },
    h('thead', {}, h('tr', {},
      ['Order', 'Placed', 'Items', 'Total', 'Status'].map((name) => h('th', { scope: 'col' }, name)),
      extra ? h('th', { scope: 'col' }, 'Actions') : null)),
    h('tbody', {}, orders.map((order) => h('tr', {},
      h('td', {}, h('a', { href: `/orders/${encodeURIComponent(order.orderId)}` }, order.orderId.slice(0, 8))),
      h('td', {}, dateTime(order.createdAt)),
      h('td', {}, order.items.map((line) => `${line.quantity} × ${line.name}`).join(', ')),
      h('td', {}, money(order.totalCents, order.currency)),
      h('td', {}, h('span', { class: `badge badge-${order.status.toLowerCase()}` }, order.status)),
      extra ? h('td', {}, extra(order)) : null)))));
}
