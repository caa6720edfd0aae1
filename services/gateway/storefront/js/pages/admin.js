// The admin's page: the low-stock list and moving confirmed orders along fulfilment
// (POST /api/orders/{id}/status).

import { api, explain, follow, query } from '../api.js';
import { h, heading, notice, put } from '../dom.js';
import { current } from '../session.js';
import { ordersTable } from './orders.js';

const NEXT = { CONFIRMED: 'shipped', SHIPPED: 'delivered' };

export async function render(main, { query: params }) {
  if (current()?.user?.role !== 'admin') {
    put(main, heading('Admin'), notice('info', 'Sign in as an admin to see this page.'));
    return;
  }
  const status = params.get('status') ?? 'CONFIRMED';
  const lowStock = h('section', { 'aria-labelledby': 'low-title' }, h('h2', { id: 'low-title' }, 'Low stock'), h('p', {}, 'Loading…'));
  const orders = h('section', { 'aria-labelledby': 'orders-title' }, h('h2', { id: 'orders-title' }, 'Orders to fulfil'));
  put(main, heading('Admin'), lowStock, orders);
  loadLowStock(lowStock);
  loadOrders(orders, status, () => render(main, { query: params }));
}

async function loadLowStock(section) {
  const title = section.querySelector('h2');
  try {
    const { data } = await api('GET', '/api/inventory/low-stock');
    put(section, title, data.items.length === 0 ? h('p', {}, 'Nothing is low.') : h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['Product', 'On hand', 'Reserved', 'Available', 'Reorder point'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, data.items.map((stock) => h('tr', {},
        h('td', {}, h('a', { href: `/seller/products/${encodeURIComponent(stock.productId)}` }, stock.productId.slice(0, 8))),
        h('td', {}, String(stock.onHand)), h('td', {}, String(stock.reserved)),
        h('td', {}, String(stock.available)), h('td', {}, String(stock.reorderPoint))))))));
  } catch (error) {
    put(section, title, notice('error', explain(error)));
  }
}

async function loadOrders(section, status, reload) {
  const title = section.querySelector('h2');
  const filter = h('nav', { class: 'pager', 'aria-label': 'Order status' },
    ['CONFIRMED', 'SHIPPED'].map((s) => h('a', { href: `/admin${query({ status: s })}`, 'aria-current': s === status ? 'page' : null }, s)));
  try {
    const { data } = await api('GET', `/api/orders${query({ status, pageSize: 50 })}`);
    const advance = (order) => {
      const to = NEXT[order.status];
      if (!to) return null;
      const button = h('button', { type: 'button' }, `Mark ${to}`);
      button.addEventListener('click', async () => {
        button.disabled = true;
        try {
          const { data: accepted } = await api('POST', `/api/orders/${encodeURIComponent(order.orderId)}/status`, { status: to });
          await follow(accepted.commandId);
          reload();
        } catch (error) {
          button.disabled = false;
          button.after(notice('error', explain(error)));
        }
      });
      return button;
    };
    put(section, title, filter, data.items.length === 0 ? h('p', {}, 'No orders with this status.') : ordersTable(data.items, advance));
  } catch (error) {
    put(section, title, filter, notice('error', explain(error)));
  }
}
