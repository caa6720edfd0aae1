// The shop: search with `q`, category and stock filters, paged (GET /api/products).
// The search is kept in the address (`/?q=mug&page=2`), so back and reload work.

import { api, explain, query } from '../api.js';
import { field, h, heading, notice, put } from '../dom.js';
import { image, money } from '../format.js';
import { navigate } from '../main.js';

const PAGE_SIZE = 12;

export async function render(main, { query: params }) {
  const q = params.get('q') ?? '';
  const category = params.get('category') ?? '';
  const inStock = params.get('inStock') ?? '';
  const page = Math.max(1, Number.parseInt(params.get('page') ?? '1', 10) || 1);

  const form = h('form', { class: 'search', role: 'search', 'aria-label': 'Products' },
    field('Search', h('input', { type: 'search', name: 'q', value: q, autocomplete: 'off' })),
    field('Category', h('input', { type: 'text', name: 'category', value: category })),
    field('Availability', h('select', { name: 'inStock' },
      option('', 'Any', inStock),
      option('true', 'In stock', inStock),
      option('false', 'Sold out', inStock))),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Search')));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    navigate(`/${query({ q: data.get('q').trim(), category: data.get('category').trim(), inStock: data.get('inStock') })}`);
  });

  const results = h('section', { 'aria-labelledby': 'results-title' });
  put(main, heading('Shop'), form, results);

  let answer;
  try {
    ({ data: answer } = await api('GET', `/api/products${query({ q, category, inStock, page, pageSize: PAGE_SIZE })}`));
  } catch (error) {
    put(results, notice('error', explain(error)));
    return;
  }
  const pages = Math.max(1, Math.ceil(answer.total / answer.pageSize));
  const title = h('h2', { id: 'results-title' },
    answer.total === 1 ? '1 product' : `${answer.total} products`);
  if (answer.items.length === 0) {
    put(results, title, h('p', {}, 'Nothing matches this search.'));
    return;
  }
  const at = (n) => `/${query({ q, category, inStock, page: n })}`;
  put(results, title,
    h('ul', { class: 'cards' }, answer.items.map(card)),
    h('nav', { class: 'pager', 'aria-label': 'Pages' },
      page > 1 ? h('a', { href: at(page - 1), rel: 'prev' }, '← Previous') : null,
      h('span', {}, `Page ${page} of ${pages}`),
      page < pages ? h('a', { href: at(page + 1), rel: 'next' }, 'Next →') : null));
}

function option(value, text, selected) {
  return h('option', { value, selected: value === selected }, text);
}

function card(product) {
  return h('li', { class: 'card' },
    h('div', { class: 'placeholder' }, product.imageUrl ? image(product.imageUrl, '') : null),
    h('h3', {}, h('a', { href: `/products/${encodeURIComponent(product.productId)}` }, product.name)),
    h('p', { class: 'price' }, money(product.priceCents, product.currency)),
    h('p', { class: product.availableStock > 0 ? 'stock' : 'stock out' },
      product.availableStock > 0 ? `${product.availableStock} in stock` : 'Sold out'));
}
