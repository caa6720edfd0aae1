// Sign in (POST /api/auth/login) and register. Registering is a command: 202, then
// the command is followed until it succeeded, then the new user is signed in.

import { api, explain, follow } from '../api.js';
import { field, h, heading, notice, put, showFieldErrors } from '../dom.js';
import { navigate } from '../main.js';
import { signIn as keep } from '../session.js';

/** Where to go after signing in: `?next=` when it is a page of this storefront. */
function next(params) {
  const target = params.get('next') ?? '/';
  return target.startsWith('/') && !target.startsWith('//') ? target : '/';
}

async function login(email, password) {
  const { data } = await api('POST', '/api/auth/login', { email, password });
  keep(data);
}

export function signIn(main, { query: params }) {
  const status = h('div', { class: 'form-status' });
  const form = h('form', { class: 'narrow' },
    field('Email', h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true })),
    field('Password', h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true })),
    status,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Sign in')));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    put(status);
    try {
      await login(String(data.get('email')).trim(), data.get('password'));
      navigate(next(params), { replace: true });
    } catch (error) {
      put(status, notice('error', error.code === 'unauthorized' ? 'Wrong email or password.' : explain(error)));
    }
  });
  put(main, heading('Sign in'), form,
    h('p', {}, 'New here? ', h('a', { href: `/register${location.search}` }, 'Register'), '.'));
}

export function register(main, { query: params }) {
  const status = h('div', { class: 'form-status' });
  const submit = h('button', { type: 'submit' }, 'Register');
  const form = h('form', { class: 'narrow' },
    field('Name', h('input', { type: 'text', name: 'name', autocomplete: 'name', required: true, maxlength: '100' })),
    field('Email', h('input', { type: 'email', name: 'email', autocomplete: 'email', required: true })),
    field('Password', h('input', {
      type: 'password', name: 'password', autocomplete: 'new-password', required: true, minlength: '8', maxlength: '72',
    }), '8 to 72 characters.'),
    field('I want to', h('select', { name: 'role' },
      h('option', { value: 'buyer' }, 'buy'),
      h('option', { value: 'seller' }, 'sell'))),
    status,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = {
      name: String(data.get('name')).trim(),
      email: String(data.get('email')).trim(),
      password: data.get('password'),
      role: data.get('role'),
    };
    submit.disabled = true;
    showFieldErrors(form, null);
    put(status, notice('info', 'Creating your account…'));
    try {
      const { data: accepted } = await api('POST', '/api/auth/register', body);
      await follow(accepted.commandId);
      await login(body.email, body.password);
      navigate(next(params), { replace: true });
    } catch (error) {
      submit.disabled = false;
      showFieldErrors(form, error.details);
      put(status, notice('error', explain(error)));
    }
  });
  put(main, heading('Register'), form,
    h('p', {}, 'Have an account? ', h('a', { href: `/signin${location.search}` }, 'Sign in'), '.'));
}
