/* What the elements of one classifier share: its configuration and words, the classifier
 * (once the engine has made it) and its messages (<tm-error>, <tm-notice>). That is a scope:
 * the page (its tmbuild-config block and window.tmbuild), or one <tm-classifier> element of an
 * embedded classifier (tmbuild.js), so that two classifiers on one page never mix. */

// Numbers as a language writes them (98,9 % in French); a tag the browser does not know falls
// back on its default rather than stopping the page.
function numbers(lang, options) {
  try {
    return new Intl.NumberFormat(lang, options);
  } catch (error) {
    return new Intl.NumberFormat(undefined, options);
  }
}

export class Scope {
  constructor(root) {
    this.root = root; // the document, or the <tm-classifier> element
    this.config = null;
    this.classifier = null;
    this.configured = []; // callbacks waiting for the configuration, then for the classifier
    this.waiting = [];
  }

  // The classifier's configuration (its words): given once, by the page or by tmbuild.js.
  configure(config) {
    this.config = config;
    this.lang = config.lang || document.documentElement.lang || "en";
    this.words = config.messages || {};
    this.decimal = numbers(this.lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
    this.percent = numbers(this.lang, { style: "percent", minimumFractionDigits: 1,
      maximumFractionDigits: 1 });
    for (const use of this.configured.splice(0)) use(config);
  }

  setClassifier(classifier) {
    this.classifier = classifier;
    for (const use of this.waiting.splice(0)) use(classifier);
  }

  whenConfigured(use) {
    if (this.config) use(this.config);
    else this.configured.push(use);
  }

  // Call `use(classifier)` with this scope's classifier: now, or once it has been made.
  withClassifier(use) {
    if (this.classifier) use(this.classifier);
    else this.waiting.push(use);
  }

  // The visitor's words for `key`, its {placeholders} filled in once (a label that reads
  // "{name}" stays as it is).
  t(key, values) {
    const text = key in this.words ? this.words[key] : key;
    return values ? text.replace(/\{(\w+)\}/g, (whole, name) =>
      (name in values ? String(values[name]) : whole)) : text;
  }

  formatDecimal(value) {
    return this.decimal.format(value);
  }

  formatPercent(value) {
    return this.percent.format(value);
  }

  // This scope's elements matching `selector` (on the page: none inside an embedded one).
  all(selector) {
    return Array.from(this.root.querySelectorAll(selector))
      .filter((element) => scopeOf(element) === this);
  }

  showError(text) {
    const shown = this.all("tm-error");
    shown.forEach((element) => display(element, text));
    if (text && !shown.length) console.warn("tmbuild:", text); // no <tm-error> to show it
  }

  clearError() {
    this.showError("");
  }

  showNotice(text) {
    this.all("tm-notice").forEach((element) => display(element, text));
  }
}

// The page's own scope: its tmbuild-config block, and the classifier engine.js makes for it.
export const pageScope = new Scope(document);
const pageConfig = document.getElementById("tmbuild-config");
pageScope.configure(pageConfig ? JSON.parse(pageConfig.textContent) : { messages: {} });
if (window.tmbuild) {
  pageScope.setClassifier(window.tmbuild);
} else {
  window.addEventListener("tmbuild:classifier", (event) => pageScope.setClassifier(event.detail),
    { once: true });
}

// The scope of an element: the <tm-classifier> around it, else the page.
export function scopeOf(element) {
  const host = element.closest("tm-classifier");
  return host && host.scope ? host.scope : pageScope;
}

// A touch screen without a mouse: no dropping or pasting there.
export const touchOnly = () => matchMedia("(hover: none) and (pointer: coarse)").matches;

// The base of the elements: made once its scope's words are known, attached to the classifier
// whenever the element is in the document (a moved element detaches and attaches again, and
// may have moved into another classifier's scope).
export class TmElement extends HTMLElement {
  connectedCallback() {
    const scope = scopeOf(this);
    this.scope = scope;
    this.listening = new AbortController();
    const signal = this.listening.signal;
    scope.whenConfigured(() => {
      if (signal.aborted) return;
      if (!this.made) {
        this.made = true;
        this.make();
      }
      scope.withClassifier((classifier) => {
        if (signal.aborted) return;
        this.attach(classifier, (type, handler) =>
          classifier.addEventListener(type, handler, { signal }));
      });
    });
  }

  disconnectedCallback() {
    this.listening.abort();
  }

  t(key, values) {
    return this.scope.t(key, values);
  }

  make() {}

  attach() {}
}

// <tm-error> and <tm-notice>: a scope's messages, shown in every such element of it.
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
