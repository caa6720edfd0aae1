// Building the page without ever parsing data as HTML: every text goes into a text
// node, so a product named `<img src=x onerror=alert(1)>` shows as those characters.

/**
 * Creates an element. `attrs`: `class`, `for`, any attribute (set with setAttribute,
 * booleans as present/absent), `on<event>` functions as listeners. `children`:
 * nodes, strings (text nodes), arrays, null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'value') {
      el.value = value;
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.append(child);
    else el.append(document.createTextNode(String(child)));
  }
}

/** Replaces everything inside `el`. */
export function put(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldIds = 0;

/** A labelled form field: the label, the control, and a place for its error. */
export function field(label, control, hint) {
  const id = control.id || `f${++fieldIds}`;
  control.id = id;
  const error = h('p', { class: 'field-error', id: `${id}-error`, 'aria-live': 'polite' });
  const described = [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' ');
  control.setAttribute('aria-describedby', described);
  return h('div', { class: 'field', 'data-field': control.name || null },
    h('label', { for: id }, label),
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null,
    control,
    error);
}

/** Shows the API's `details` (field → problem) beside the fields of `form`. */
export function showFieldErrors(form, details) {
  for (const p of form.querySelectorAll('.field-error')) p.textContent = '';
  for (const c of form.querySelectorAll('[aria-invalid]')) c.removeAttribute('aria-invalid');
  if (!details || typeof details !== 'object') return;
  for (const [name, problem] of Object.entries(details)) {
    const control = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!control) continue;
    control.setAttribute('aria-invalid', 'true');
    const error = document.getElementById(`${control.id}-error`);
    if (error) error.textContent = typeof problem === 'string' ? problem : JSON.stringify(problem);
  }
}

/** A message box: `kind` is `info`, `error` or `success`. */
export function notice(kind, ...text) {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...text);
}

/** A page heading that takes focus after navigation, for screen readers and keyboards. */
export function heading(text) {
  return h('h1', { tabindex: '-1', class: 'page-title' }, text);
}
