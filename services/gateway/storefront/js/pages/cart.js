// The cart (GET /api/cart) with its lines, each changed or removed by a cart command,
// and the checkout: an address and a test token, POST /api/cart/checkout. A product
// that is no longer sold stays in the cart, marked, until it is removed.

import { api, explain, follow } from '../api.js';
import { h, heading, notice, put, showFieldErrors } from '../dom.js';
import { image, money } from '../format.js';
import { navigate } from '../main.js';
import { current } from '../session.js';
import { addressFields, paymentFields, readAddress } from './checkout.js';

/** Sends a cart command and waits for its outcome. */
export async function changeCart(method, path, body) {
  const { data: accepted } = await api(method, path, body);
  return follow(accepted.commandId);
}

export async function render(main) {
  const session = current();
  if (!session) {
    put(main, heading('Cart'), notice('info', 'Sign in to use a cart. ',
      h('a', { href: '/signin?next=%2Fcart' }, 'Sign in'), '.'));
    return;
  }
  const status = h('div', { class: 'form-status', role: 'status' });
  let cart;
  try {
    ({ data: cart } = await api('GET', '/api/cart'));
  } catch (error) {
    put(main, heading('Cart'), notice('error', explain(error)));
    return;
  }
  const change = async (method, path, body) => {
    put(status, notice('info', 'Updating your cart…'));
    try {
      await changeCart(method, path, body);
      await render(main);
    } catch (error) {
      put(status, notice('error', explain(error)));
    }
  };
  if (cart.lines.length === 0) {
    put(main, heading('Cart'), status, h('p', { class: 'empty' }, 'Your cart is empty. ',
      h('a', { href: '/' }, 'Go shopping'), '.'));
    return;
  }
  const rows = cart.lines.map((line) => {
    const path = `/api/cart/items/${encodeURIComponent(line.productId)}`;
    const quantity = h('input', {
      type: 'number', min: '1', max: '1000', value: String(line.quantity), inputmode: 'numeric',
      'aria-label': `Quantity of ${line.name}`, disabled: !line.active,
    });
    quantity.addEventListener('change', () => change('PATCH', path, { quantity: Number(quantity.value) }));
    return h('li', { class: line.active ? 'cart-line' : 'cart-line inactive' },
      line.imageUrl ? image(line.imageUrl, line.name, 'thumb') : null,
      h('a', { href: `/products/${encodeURIComponent(line.productId)}` }, line.name),
      line.active ? null : h('span', { class: 'flag' }, 'No longer sold: remove it to check out'),
      quantity,
      h('span', { class: 'line-total' }, money(line.lineTotalCents, line.currency)),
      h('button', { type: 'button', class: 'link', onclick: () => change('DELETE', path) }, 'Remove'));
  });
  const submit = h('button', { type: 'submit' }, 'Place order');
  const form = h('form', { class: 'checkout', novalidate: true },
    addressFields(session.user.name),
    paymentFields(),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const data = new FormData(form);
    const body = { paymentToken: data.get('paymentToken'), shippingAddress: readAddress(data) };
    submit.disabled = true;
    put(status, notice('info', 'Placing your order…'));
    try {
      const { data: accepted } = await api('POST', '/api/cart/checkout', body);
      navigate(`/orders/${encodeURIComponent(accepted.orderId)}`);
    } catch (error) {
      submit.disabled = false;
      showFieldErrors(form, error.details);
      put(status, notice('error', explain(error)));
    }
  });
  put(main, heading('Cart'),
    h('ul', { class: 'cart' }, rows),
    h('p', { class: 'total' }, 'Total: ', money(cart.totalCents, cart.currency ?? cart.lines[0].currency)),
    status,
    h('section', { class: 'cart-checkout' }, h('h2', {}, 'Checkout'), form));
}
