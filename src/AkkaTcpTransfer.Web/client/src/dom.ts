// Small DOM helpers. Every string from the network goes in as text (textContent / text nodes), never
// as markup, and user-chosen strings sit in <bdi> so that direction overrides stay inside them.

import { visible } from "./format";

export function $(id: string): HTMLElement {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} is missing from index.html`);
  return e;
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A <bdi> holding a user-supplied string as text, control characters made visible. */
export function bdi(text: string, className?: string): HTMLElement {
  return el("bdi", className, visible(text));
}

export function button(text: string, className: string): HTMLButtonElement {
  const b = el("button", className, text);
  b.type = "button";
  return b;
}
