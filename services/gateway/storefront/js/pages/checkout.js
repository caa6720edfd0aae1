// "Buy now": one product, a shipping address and a test payment token, placed with
// POST /api/orders. A server-side cart (GET /api/cart, POST /api/cart/checkout) can
// reuse `addressFields`, `paymentFields` and `readAddress` from this module.

import { api, explain } from '../api.js';
import { field, h, heading, notice, put, showFieldErrors } from '../dom.js';
import { money } from '../format.js';
import { navigate } from '../main.js';
import { current } from '../session.js';

/** The simulated provider's test tokens (docs/api.md). */
export const TEST_TOKENS = [
  ['tok_visa', 'Visa test card', 'charged: the order is confirmed'],
  ['tok_mastercard', 'Mastercard test card', 'charged: the order is confirmed'],
  ['tok_chargeDeclined', 'Declined card', 'declined: the order is cancelled'],
  ['tok_insufficientFunds', 'Insufficient funds', 'declined: the order is cancelled'],
  ['tok_processingError', 'Provider error', 'retried, then the order is cancelled'],
];

export async function render(main, { id, query: params }) {
  const session = current();
  if (!session) {
    const next = location.pathname + location.search;
    put(main, heading('Checkout'), notice('info', 'Sign in to buy. ',
      h('a', { href: `/signin?next=${encodeURIComponent(next)}` }, 'Sign in'), ' or ',
      h('a', { href: `/register?next=${encodeURIComponent(next)}` }, 'register'), '.'));
    return;
  }
  let product;
  try {
    ({ data: product } = await api('GET', `/api/products/${encodeURIComponent(id)}`));
  } catch (error) {
    put(main, heading('Checkout'), notice('error', explain(error)));
    return;
  }
  const wanted = Number.parseInt(params.get('quantity') ?? '1', 10);
  const quantity = h('input', {
    type: 'number', name: 'items.0.quantity', min: '1', max: '1000', required: true,
    value: String(Number.isFinite(wanted) && wanted > 0 ? wanted : 1), inputmode: 'numeric',
  });
  const total = h('output', { for: quantity.id, class: 'total' });
  const showTotal = () => {
    total.textContent = money(product.priceCents * (Number(quantity.value) || 0), product.currency);
  };
  quantity.addEventListener('input', showTotal);
  showTotal();

  const status = h('div', { class: 'form-status' });
  const submit = h('button', { type: 'submit' }, 'Place order');
  // One key per visit of this page: submitting twice names the same order.
  const idempotencyKey = crypto.randomUUID();
  const form = h('form', { class: 'checkout', novalidate: true },
    h('fieldset', {},
      h('legend', {}, 'Your order'),
      h('p', { class: 'line' }, h('a', { href: `/products/${encodeURIComponent(product.productId)}` }, product.name),
        ' · ', money(product.priceCents, product.currency), ' each'),
      field('Quantity', quantity),
      h('p', {}, 'Total: ', total)),
    addressFields(session.user.name),
    paymentFields(),
    status,
    h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const data = new FormData(form);
    const body = {
      items: [{ productId: product.productId, quantity: Number(quantity.value) }],
      paymentToken: data.get('paymentToken'),
      shippingAddress: readAddress(data),
    };
    submit.disabled = true;
    put(status, notice('info', 'Placing your order…'));
    try {
      const { data: accepted } = await api('POST', '/api/orders', body, { 'Idempotency-Key': idempotencyKey });
      navigate(`/orders/${encodeURIComponent(accepted.orderId)}`);
    } catch (error) {
      submit.disabled = false;
      showFieldErrors(form, error.details);
      put(status, notice('error', explain(error)));
    }
  });

  put(main, heading('Checkout'), form);
}

/** The shipping address fieldset; names match the API's `shippingAddress` fields. */
export function addressFields(name = '') {
  const input = (key, attrs) => h('input', { type: 'text', name: `shippingAddress.${key}`, ...attrs });
  return h('fieldset', { class: 'address' },
    h('legend', {}, 'Shipping address'),
    field('Full name', input('name', { autocomplete: 'name', required: true, maxlength: '200', value: name })),
    field('Address', input('line1', { autocomplete: 'address-line1', required: true, maxlength: '200' })),
    field('Address line 2 (optional)', input('line2', { autocomplete: 'address-line2', maxlength: '200' })),
    h('div', { class: 'row' },
      field('Postal code', input('postalCode', { autocomplete: 'postal-code', required: true, maxlength: '20' })),
      field('City', input('city', { autocomplete: 'address-level2', required: true, maxlength: '100' }))),
    field('Country', input('country', {
      autocomplete: 'country', required: true, minlength: '2', maxlength: '2', pattern: '[A-Za-z]{2}',
      value: 'DE', class: 'short',
    }), 'Two-letter code, for example DE, FR, US.'));
}

/** The payment token choice: radio buttons, tok_visa first and chosen. */
export function paymentFields() {
  return h('fieldset', { class: 'payment' },
    h('legend', {}, 'Payment (test tokens)'),
    TEST_TOKENS.map(([token, label, outcome], i) => {
      const id = `pay-${token}`;
      return h('div', { class: 'choice' },
        h('input', { type: 'radio', name: 'paymentToken', id, value: token, checked: i === 0, required: true }),
        h('label', { for: id }, label, ' ', h('code', {}, token), h('span', { class: 'hint' }, ` — ${outcome}`)));
    }));
}

/** `shippingAddress` from the form's data: trimmed, line2 left out when empty. */
export function readAddress(data) {
  const value = (key) => String(data.get(`shippingAddress.${key}`) ?? '').trim();
  const address = {
    name: value('name'),
    line1: value('line1'),
    city: value('city'),
    postalCode: value('postalCode'),
    country: value('country').toUpperCase(),
  };
  if (value('line2')) address.line2 = value('line2');
  return address;
}
