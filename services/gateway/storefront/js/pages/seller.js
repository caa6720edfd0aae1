// The seller's pages: their products with stock, listing a product, editing it
// (imageUrl included) and adjusting its stock. Admins see every seller's.

import { api, explain, follow } from '../api.js';
import { field, h, heading, notice, put, showFieldErrors } from '../dom.js';
import { money } from '../format.js';
import { navigate } from '../main.js';
import { current } from '../session.js';

function allowed(main, title) {
  const role = current()?.user?.role;
  if (role === 'seller' || role === 'admin') return true;
  put(main, heading(title), notice('info', 'Sign in as a seller to manage products. ',
    h('a', { href: `/signin?next=${encodeURIComponent(location.pathname)}` }, 'Sign in'), '.'));
  return false;
}

/** The seller's active products, every page of them (an admin's: everyone's). */
async function myProducts() {
  const me = current().user;
  const seller = me.role === 'admin' ? '' : `&sellerId=${encodeURIComponent(me.userId)}`;
  const mine = [];
  for (let page = 1; ; page += 1) {
    const { data } = await api('GET', `/api/products?pageSize=100&page=${page}${seller}`);
    mine.push(...data.items);
    if (page * data.pageSize >= data.total || data.items.length === 0) return mine;
  }
}

export async function render(main) {
  if (!allowed(main, 'My products')) return;
  put(main, heading('My products'), h('p', {}, 'Loading…'));
  let products;
  try {
    products = await myProducts();
  } catch (error) {
    put(main, heading('My products'), notice('error', explain(error)));
    return;
  }
  const rows = products.map((product) => {
    const stock = h('td', {}, String(product.availableStock));
    api('GET', `/api/inventory/${encodeURIComponent(product.productId)}`).then(({ data }) => {
      const low = data.available <= data.reorderPoint;
      put(stock, String(data.available), low ? h('span', { class: 'badge badge-low' }, ' low stock') : null);
    }, () => {});
    return h('tr', {},
      h('td', {}, h('a', { href: `/seller/products/${encodeURIComponent(product.productId)}` }, product.name)),
      h('td', {}, product.sku),
      h('td', {}, money(product.priceCents, product.currency)),
      stock);
  });
  put(main, heading('My products'),
    h('p', {}, h('a', { class: 'button', href: '/seller/products/new' }, 'List a new product')),
    products.length === 0
      ? h('p', {}, 'You have no products yet.')
      : h('div', { class: 'table-wrap' }, h('table', {},
        h('thead', {}, h('tr', {}, ['Name', 'SKU', 'Price', 'Available'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', {}, rows))));
}

/** The product form; `product` fills it for editing. */
function productForm(product) {
  const value = (key) => (product ? product[key] ?? '' : '');
  return [
    product ? null : field('SKU', h('input', { type: 'text', name: 'sku', required: true, maxlength: '64', pattern: '\\S+' }), 'No spaces; unique.'),
    field('Name', h('input', { type: 'text', name: 'name', required: true, maxlength: '200', value: value('name') })),
    field('Description', h('textarea', { name: 'description', rows: '4', maxlength: '5000' }, value('description'))),
    field('Category', h('input', { type: 'text', name: 'category', required: true, maxlength: '100', value: value('category') })),
    h('div', { class: 'row' },
      field('Price', h('input', {
        type: 'number', name: 'priceCents', required: true, min: '0.01', step: '0.01', inputmode: 'decimal',
        value: product ? (product.priceCents / 100).toFixed(2) : '',
      })),
      field('Currency', h('input', {
        type: 'text', name: 'currency', required: true, minlength: '3', maxlength: '3', pattern: '[A-Z]{3}',
        value: product ? product.currency : 'EUR', class: 'short',
      }))),
    field('Image URL', h('input', {
      type: 'url', name: 'imageUrl', maxlength: '2048', pattern: 'https://.*', value: value('imageUrl'),
      placeholder: 'https://…',
    }), 'Optional; an https address.'),
    product ? null : field('Initial stock', h('input', { type: 'number', name: 'initialStock', min: '0', step: '1', value: '0' })),
  ];
}

/** The form's fields as the API takes them; editing sends `imageUrl: ""` to remove it. */
function read(form, { editing = false } = {}) {
  const data = new FormData(form);
  const text = (key) => (data.has(key) ? String(data.get(key)).trim() : undefined);
  const body = {
    name: text('name'),
    description: text('description'),
    category: text('category'),
    priceCents: Math.round(Number(data.get('priceCents')) * 100),
    currency: text('currency'),
  };
  if (editing || text('imageUrl')) body.imageUrl = text('imageUrl');
  if (data.has('sku')) body.sku = text('sku');
  if (data.has('initialStock')) body.initialStock = Number(data.get('initialStock') || 0);
  return body;
}

export function create(main) {
  if (!allowed(main, 'List a product')) return;
  const status = h('div', { class: 'form-status' });
  const submit = h('button', { type: 'submit' }, 'List product');
  const form = h('form', { class: 'narrow' }, productForm(null), status, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    submit.disabled = true;
    showFieldErrors(form, null);
    put(status, notice('info', 'Listing…'));
    try {
      const { data } = await api('POST', '/api/products', read(form));
      await follow(data.commandId);
      navigate(`/seller/products/${encodeURIComponent(data.productId)}?listed=1`);
    } catch (error) {
      submit.disabled = false;
      showFieldErrors(form, error.details);
      put(status, notice('error', explain(error)));
    }
  });
  put(main, h('p', { class: 'crumbs' }, h('a', { href: '/seller' }, '← My products')), heading('List a product'), form);
}

export async function edit(main, { id, query: params }) {
  if (!allowed(main, 'Edit product')) return;
  let product;
  try {
    ({ data: product } = await api('GET', `/api/products/${encodeURIComponent(id)}`));
  } catch (error) {
    put(main, heading('Edit product'), notice('error', explain(error)));
    return;
  }
  const status = h('div', { class: 'form-status' },
    params.get('listed') ? notice('success', 'Listed. ', h('a', { href: `/products/${encodeURIComponent(id)}` }, 'See it in the shop'), '.') : null);
  const submit = h('button', { type: 'submit' }, 'Save changes');
  const form = h('form', { class: 'narrow', 'aria-labelledby': 'edit-title' },
    h('h2', { id: 'edit-title' }, 'Details'), productForm(product), status, h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const changed = Object.fromEntries(Object.entries(read(form, { editing: true })).filter(([key, value]) => value !== (product[key] ?? '')));
    if (Object.keys(changed).length === 0) {
      put(status, notice('info', 'Nothing changed.'));
      return;
    }
    submit.disabled = true;
    showFieldErrors(form, null);
    try {
      const { data } = await api('PATCH', `/api/products/${encodeURIComponent(id)}`, changed);
      await follow(data.commandId);
      product = { ...product, ...changed };
      put(status, notice('success', 'Saved.'));
    } catch (error) {
      showFieldErrors(form, error.details);
      put(status, notice('error', explain(error)));
    } finally {
      submit.disabled = false;
    }
  });
  put(main, h('p', { class: 'crumbs' }, h('a', { href: '/seller' }, '← My products')),
    heading(`Edit: ${product.name}`), form, stockSection(id));
}

/** Stock levels and the adjustment form (POST /api/inventory/{id}/adjustments). */
function stockSection(id) {
  const levels = h('dl', { class: 'facts' });
  const refresh = async () => {
    try {
      const { data } = await api('GET', `/api/inventory/${encodeURIComponent(id)}`);
      put(levels,
        h('dt', {}, 'On hand'), h('dd', {}, String(data.onHand)),
        h('dt', {}, 'Reserved'), h('dd', {}, String(data.reserved)),
        h('dt', {}, 'Available'), h('dd', {}, String(data.available),
          data.available <= data.reorderPoint ? h('span', { class: 'badge badge-low' }, ' low stock') : null),
        h('dt', {}, 'Reorder point'), h('dd', {}, String(data.reorderPoint)));
    } catch (error) {
      put(levels, notice('error', explain(error)));
    }
  };
  const status = h('div', { class: 'form-status' });
  const form = h('form', { class: 'narrow' },
    h('div', { class: 'row' },
      field('Change (units)', h('input', { type: 'number', name: 'delta', step: '1', required: true }), 'Negative to remove units.'),
      field('Reason', h('input', { type: 'text', name: 'reason', required: true, maxlength: '200', value: 'restock' }))),
    status,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Adjust stock')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { delta: Number(data.get('delta')), reason: String(data.get('reason')).trim() };
    showFieldErrors(form, null);
    try {
      const { data: accepted } = await api('POST', `/api/inventory/${encodeURIComponent(id)}/adjustments`, body);
      await follow(accepted.commandId);
      put(status, notice('success', 'Stock adjusted.'));
      form.reset();
      refresh();
    } catch (error) {
      showFieldErrors(form, error.details);
      put(status, notice('error', explain(error)));
    }
  });
  refresh();
  return h('section', { 'aria-labelledby': 'stock-title' }, h('h2', { id: 'stock-title' }, 'Stock'), levels, form);
}
