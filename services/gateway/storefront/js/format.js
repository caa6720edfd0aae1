// How money, times, reasons and product images show.

import { h } from './dom.js';

/** `1299, "EUR"` → `€12.99` in the browser's locale. */
export function money(cents, currency) {
  if (!currency) return String(cents / 100);
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

/** An ISO time as a local date and time with seconds. */
export function dateTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso ?? '');
  return date.toLocaleString(undefined, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  });
}

/** A reason code such as `payment_declined: card_declined` in words. */
export function reason(code) {
  const words = {
    placed: 'Order placed',
    paid: 'Stock reserved and payment taken',
    out_of_stock: 'Not enough stock',
    payment_declined: 'Payment declined',
    timeout: 'Not completed in time',
    cancelled_by_user: 'Cancelled by the buyer',
    shipped: 'Handed to the carrier',
    delivered: 'Delivered',
    card_declined: 'card declined',
    insufficient_funds: 'insufficient funds',
    processing_error: 'payment provider error',
    invalid_token: 'invalid payment token',
    unknown_product: 'unknown product',
    product_inactive: 'product no longer sold',
    invalid_quantity: 'invalid quantity',
    mixed_currency: 'products in different currencies',
  };
  if (!code) return '';
  return String(code)
    .split(': ')
    .map((part) => words[part] ?? part.replaceAll('_', ' '))
    .join(': ');
}

/** Statuses after which nothing more happens to an order. */
export const TERMINAL = new Set(['DELIVERED', 'CANCELLED', 'REJECTED']);

/**
 * A product image from its https address, hidden when it does not load (the seller's
 * host may be down); the address stays on the element.
 */
export function image(src, alt, className) {
  const img = h('img', { src, alt, class: className, loading: 'lazy', referrerpolicy: 'no-referrer' });
  img.addEventListener('error', () => {
    img.hidden = true;
  });
  return img;
}
