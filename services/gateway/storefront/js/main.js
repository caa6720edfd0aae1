// The storefront's entry: a router over the History API (the gateway answers
// index.html for every page path), the navigation, and one module per page. A page
// module exports `render(main, params)` and may return a function that stops what
// the page started (an order's event stream).

import { h, put } from './dom.js';
import { current, onChange, signOut } from './session.js';

const routes = [
  ['/', () => import('./pages/shop.js')],
  ['/products/:id', () => import('./pages/product.js')],
  ['/checkout/:id', () => import('./pages/checkout.js')],
  ['/cart', () => import('./pages/cart.js')],
  ['/orders', () => import('./pages/orders.js')],
  ['/orders/:id', () => import('./pages/order.js')],
  ['/signin', () => import('./pages/account.js'), 'signIn'],
  ['/register', () => import('./pages/account.js'), 'register'],
  ['/seller', () => import('./pages/seller.js')],
  ['/seller/products/new', () => import('./pages/seller.js'), 'create'],
  ['/seller/products/:id', () => import('./pages/seller.js'), 'edit'],
  ['/admin', () => import('./pages/admin.js')],
];

function match(pathname) {
  const parts = pathname.split('/').filter(Boolean);
  for (const [pattern, load, view] of routes) {
    const want = pattern.split('/').filter(Boolean);
    if (want.length !== parts.length) continue;
    const params = {};
    const ok = want.every((part, i) => {
      if (part.startsWith(':')) {
        params[part.slice(1)] = decodeURIComponent(parts[i]);
        return true;
      }
      return part === parts[i];
    });
    if (ok) return { load, view, params };
  }
  return null;
}

let stop = null;
let rendering = 0;

async function render() {
  const ticket = ++rendering;
  if (stop) {
    stop();
    stop = null;
  }
  navigation();
  const main = document.getElementById('main');
  const found = match(location.pathname);
  if (!found) {
    put(main, h('h1', { tabindex: '-1', class: 'page-title' }, 'Page not found'),
      h('p', {}, h('a', { href: '/' }, 'Back to the shop')));
    main.querySelector('h1').focus();
    return;
  }
  const params = { ...found.params, query: new URLSearchParams(location.search) };
  const page = await found.load();
  if (ticket !== rendering) return;
  // Each page draws into a view of its own: once the next page replaced it, whatever
  // a slow page still writes lands in a detached element, not over the next page.
  const view = h('div', { class: 'view' });
  main.replaceChildren(view);
  main.setAttribute('aria-busy', 'true');
  const result = await (found.view ? page[found.view] : page.render)(view, params);
  if (ticket !== rendering) {
    if (typeof result === 'function') result();
    return;
  }
  main.removeAttribute('aria-busy');
  stop = typeof result === 'function' ? result : null;
  document.title = `${main.querySelector('h1')?.textContent || 'Shop'} · Kafka Commerce`;
  if (document.activeElement === document.body || !main.contains(document.activeElement)) {
    main.querySelector('h1')?.focus({ preventScroll: true });
  }
}

/** Goes to a page of the storefront without reloading. */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  window.scrollTo(0, 0);
  render();
}

function navigation() {
  const session = current();
  const role = session?.user?.role;
  const link = (href, text) => h('li', {}, h('a', {
    href, 'aria-current': location.pathname === href ? 'page' : null,
  }, text));
  const items = [link('/', 'Shop')];
  if (session) {
    if (role === 'buyer' || role === 'admin') items.push(link('/cart', 'Cart'));
    items.push(link('/orders', 'My orders'));
    if (role === 'seller' || role === 'admin') items.push(link('/seller', 'My products'));
    if (role === 'admin') items.push(link('/admin', 'Admin'));
    items.push(h('li', { class: 'who' }, `${session.user.name} (${role})`));
    items.push(h('li', {}, h('button', {
      type: 'button',
      class: 'link',
      onclick: () => {
        signOut();
        navigate('/');
      },
    }, 'Sign out')));
  } else {
    items.push(link('/signin', 'Sign in'), link('/register', 'Register'));
  }
  put(document.getElementById('nav'), items);
}

document.addEventListener('click', (event) => {
  const a = event.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/')) return;
  if (url.pathname === location.pathname && url.search === location.search && url.hash) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', render);
onChange(navigation);
render();
