// A product, with its image when it has one; "Add to cart", and "Buy now", which leads
// to the checkout for this product and quantity.

import { api, explain } from '../api.js';
import { field, h, heading, notice, put } from '../dom.js';
import { changeCart } from './cart.js';
import { image, money } from '../format.js';
import { navigate } from '../main.js';

export async function render(main, { id }) {
  put(main, heading('Product'), h('p', {}, 'Loading…'));
  let product;
  try {
    ({ data: product } = await api('GET', `/api/products/${encodeURIComponent(id)}`));
  } catch (error) {
    put(main, heading('Product'), notice('error', explain(error)),
      h('p', {}, h('a', { href: '/' }, 'Back to the shop')));
    return;
  }
  const quantity = h('input', {
    type: 'number', name: 'quantity', min: '1', max: String(Math.min(1000, Math.max(1, product.availableStock))),
    value: '1', required: true, inputmode: 'numeric',
  });
  const sold = product.active && product.availableStock > 0;
  const added = h('div', { class: 'form-status', role: 'status' });
  const addToCart = h('button', { type: 'button', class: 'secondary', disabled: !sold }, 'Add to cart');
  addToCart.addEventListener('click', async () => {
    if (!quantity.reportValidity()) return;
    addToCart.disabled = true;
    try {
      await changeCart('POST', '/api/cart/items', { productId: product.productId, quantity: Number(quantity.value) });
      put(added, notice('info', 'Added. ', h('a', { href: '/cart' }, 'View your cart'), '.'));
    } catch (error) {
      put(added, notice('error', explain(error)));
    }
    addToCart.disabled = false;
  });
  const buy = h('form', { class: 'buy' },
    field('Quantity', quantity),
    h('div', { class: 'actions' },
      addToCart,
      h('button', { type: 'submit', disabled: !sold }, 'Buy now')),
    added);
  buy.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(`/checkout/${encodeURIComponent(product.productId)}?quantity=${encodeURIComponent(quantity.value)}`);
  });

  put(main,
    h('p', { class: 'crumbs' }, h('a', { href: '/' }, '← Shop')),
    h('article', { class: 'product' },
      product.imageUrl
        ? image(product.imageUrl, product.name, 'product-image')
        : null,
      h('div', { class: 'product-info' },
        heading(product.name),
        h('p', { class: 'price' }, money(product.priceCents, product.currency)),
        h('p', { class: product.availableStock > 0 ? 'stock' : 'stock out' },
          product.availableStock > 0 ? `${product.availableStock} in stock` : 'Sold out'),
        product.active ? null : notice('info', 'This product is no longer sold.'),
        h('p', { class: 'description' }, product.description || ''),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Category'), h('dd', {}, product.category),
          h('dt', {}, 'SKU'), h('dd', {}, product.sku)),
        buy)));
}
