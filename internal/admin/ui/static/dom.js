// dom.js: small helpers to build and update the page safely (text only,
// never HTML from data).

/** $ returns the element with id. */
export const $ = (id) => document.getElementById(id);

/** el builds an element: el("td", {class: "x"}, "text", child...). */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null && v !== false) {
      e.setAttribute(k, v === true ? "" : v);
    }
  }
  e.append(...children.filter((c) => c !== undefined && c !== null));
  return e;
}

/** showError shows message in the error element errId and marks the
 * fields (ids) it explains as invalid; an empty message clears both. */
export function showError(errId, message, ...fields) {
  const err = $(errId);
  err.textContent = message;
  err.hidden = message === "";
  for (const f of fields) {
    if (message) {
      $(f).setAttribute("aria-invalid", "true");
    } else {
      $(f).removeAttribute("aria-invalid");
    }
  }
}

/** usageBar returns a bar showing used of max. */
export function usageBar(used, max, label) {
  const pct = max > 0 ? Math.min(100, (100 * used) / max) : 0;
  const fill = el("span");
  fill.style.width = `${pct}%`;
  const bar = el("div", { class: used >= max ? "bar full" : "bar", role: "img", "aria-label": label }, fill);
  return bar;
}

/** busy disables button while promise runs. */
export async function busy(button, promise) {
  button.disabled = true;
  try {
    return await promise;
  } finally {
    button.disabled = false;
  }
}
