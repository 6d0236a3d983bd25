/* What every element of the page shares: the page's configuration and words, the classifier
 * (once the engine has made it), and the page-wide messages (<tm-error>, <tm-notice>). */

const element = document.getElementById("tmbuild-config");
export const config = element ? JSON.parse(element.textContent) : { messages: {} };
export const lang = config.lang || document.documentElement.lang || "en";
const words = config.messages || {};

// The visitor's words for `key`, its {placeholders} filled in once (a label that reads
// "{name}" stays as it is).
export function t(key, values) {
  const text = key in words ? words[key] : key;
  return values ? text.replace(/\{(\w+)\}/g, (whole, name) =>
    (name in values ? String(values[name]) : whole)) : text;
}

// Numbers as the page's language writes them (98,9 % in French); a tag the browser does not
// know falls back on its default rather than stopping the page.
function numbers(options) {
  try {
    return new Intl.NumberFormat(lang, options);
  } catch (error) {
    return new Intl.NumberFormat(undefined, options);
  }
}
const decimal = numbers({ minimumFractionDigits: 1, maximumFractionDigits: 1 });
const percent = numbers({ style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1 });
export const formatDecimal = (value) => decimal.format(value);
export const formatPercent = (value) => percent.format(value);

// Call `use(classifier)` with the page's classifier: now, or once the engine has run.
export function withClassifier(use) {
  if (window.tmbuild) {
    use(window.tmbuild);
    return;
  }
  window.addEventListener("tmbuild:classifier", (event) => use(event.detail), { once: true });
}

// A touch screen without a mouse: no dropping or pasting there.
export const touchOnly = () => matchMedia("(hover: none) and (pointer: coarse)").matches;

// The base of the page's elements: made once, attached to the classifier whenever the element
// is in the document (a moved element detaches and attaches again).
export class TmElement extends HTMLElement {
  connectedCallback() {
    if (!this.made) {
      this.made = true;
      this.make();
    }
    this.listening = new AbortController();
    const signal = this.listening.signal;
    withClassifier((classifier) => {
      if (signal.aborted) return;
      this.attach(classifier, (type, handler) =>
        classifier.addEventListener(type, handler, { signal }));
    });
  }

  disconnectedCallback() {
    this.listening.abort();
  }

  make() {}

  attach() {}
}

// <tm-error> and <tm-notice>: page-wide messages, shown in every such element of the page.
class TmMessage extends TmElement {
  make() {
    if (!this.textContent.trim()) this.hidden = true;
  }
}

function display(element, text) {
  element.textContent = text;
  element.hidden = !text;
}

export class TmError extends TmMessage {
  make() {
    this.setAttribute("role", "alert");
    super.make();
  }
}

export class TmNotice extends TmMessage {}

export function showError(text) {
  const shown = document.querySelectorAll("tm-error");
  shown.forEach((element) => display(element, text));
  if (text && !shown.length) console.warn("tmbuild:", text); // a page without <tm-error>
}

export const clearError = () => showError("");

export function showNotice(text) {
  document.querySelectorAll("tm-notice").forEach((element) => display(element, text));
}

// Elements made from markup: `tag` with a class, attributes and children (text is escaped).
export function make(tag, attributes = {}, ...children) {
  const made = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") made.textContent = value;
    else if (value === true) made.setAttribute(name, "");
    else if (value !== false && value !== null) made.setAttribute(name, value);
  }
  made.append(...children);
  return made;
}
