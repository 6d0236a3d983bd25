/* An embedded classifier: tmbuild.js, the folder's entry with a name that never changes, makes
 * the classifier with the engine and calls `embed` with it; every <tm-classifier> element
 * naming it (or, on a page with one classifier, any) then shows it inside, in its own scope.
 *
 *   <script type='module' src='/classifiers/flowers/tmbuild.js'></script>
 *   <tm-classifier name='flowers'></tm-classifier>
 *
 * An empty <tm-classifier> gets the default parts (loading, inputs, preview, result); one
 * holding tm-* elements keeps the designer's. The element's `classifier` property is the
 * engine's Classifier, and a bubbling "tmbuild:classifier" event on it says when it is set. */

import { Scope, make } from "./page-context.js";
import { wireScope } from "./page-wire.js";

// Classifiers by name, shared by every tmbuild.js of the page (each ships its own copy of
// this module): a <tm-classifier> may come before or after the script that serves it.
const REGISTRY = "__tmbuildEmbedded";
const REGISTERED = "tmbuild:embedded";

// A <tm-classifier> holding any of these keeps its own parts.
const PARTS = "tm-loading, tm-load-error, tm-backend, tm-error, tm-notice, tm-upload, " +
  "tm-webcam, tm-preview, tm-result, tm-microphone, tm-spectrogram, tm-timeline, tm-skeleton";

function registry() {
  if (!window[REGISTRY]) window[REGISTRY] = new Map();
  return window[REGISTRY];
}

export class TmClassifier extends HTMLElement {
  get scope() {
    if (!this.ownScope) this.ownScope = new Scope(this);
    return this.ownScope;
  }

  connectedCallback() {
    if (this.classifier || this.looking) return;
    const mount = () => {
      const wanted = this.getAttribute("name");
      const classifiers = registry();
      const found = wanted ? classifiers.get(wanted) : classifiers.values().next().value;
      if (found) found.mount(this);
      return Boolean(found);
    };
    if (mount()) return;
    this.looking = () => {
      if (!mount()) return;
      window.removeEventListener(REGISTERED, this.looking);
      this.looking = null;
    };
    window.addEventListener(REGISTERED, this.looking);
  }
}

// The stylesheet of the default parts, once per page; a site's own CSS comes after it in the
// cascade's eyes: every rule of it is wrapped in :where(), so any selector of the site wins.
function addStylesheet(href) {
  if (document.querySelector(`link[data-tmbuild-embed="${CSS.escape(href)}"]`)) return;
  const link = make("link", { rel: "stylesheet", href, "data-tmbuild-embed": href });
  document.head.prepend(link);
}

function defaultParts(config) {
  const audio = config.model.kind === "audio";
  const inputs = audio ? config.audio.inputs : config.classifier.inputs;
  const offered = (input, tag) => (inputs.includes(input) ? [make(tag)] : []);
  // An audio model's classifier listens: the microphone, recordings, and what it hears.
  // A pose model's draws the skeleton over the webcam's video and the photo.
  const pose = config.model.kind === "pose";
  const parts = audio
    ? [offered("microphone", "tm-microphone"), offered("upload", "tm-upload"),
      [make("tm-spectrogram"), make("tm-result"), make("tm-timeline")]]
    : pose ? [offered("upload", "tm-upload"), [],
      [make("tm-skeleton", {}, ...offered("webcam", "tm-webcam"), make("tm-preview")),
        make("tm-result")]]
    : [offered("upload", "tm-upload"), offered("webcam", "tm-webcam"),
      [make("tm-preview"), make("tm-result")]];
  return [
    make("tm-loading"), make("tm-load-error"), make("tm-notice"), make("tm-error"),
    make("div", { class: "tm-inputs" }, ...parts[0], ...parts[1]),
    make("div", { class: "tm-output" }, ...parts[2]),
    make("tm-backend"),
  ];
}

// Called by tmbuild.js with the classifier it made (loading already) and its configuration:
// shows it in every <tm-classifier> that names it.
export function embed(classifier, config, entryUrl) {
  addStylesheet(new URL(config.embed.stylesheet, entryUrl).href);
  const mount = (element) => {
    element.classifier = classifier;
    element.setAttribute("lang", config.lang);
    element.setAttribute("dir", config.embed.dir);
    element.scope.configure(config);
    if (!element.querySelector(PARTS)) element.append(...defaultParts(config));
    element.scope.setClassifier(classifier);
    wireScope(element.scope, classifier);
    element.dispatchEvent(new CustomEvent("tmbuild:classifier", { detail: classifier,
      bubbles: true }));
  };
  const classifiers = registry();
  if (classifiers.has(config.embed.name)) {
    console.warn(`tmbuild: two classifiers named "${config.embed.name}" on this page; ` +
      "give each its own embed.name in site.yaml");
  }
  classifiers.set(config.embed.name, { mount, classifier });
  window.dispatchEvent(new CustomEvent(REGISTERED, { detail: config.embed.name }));
}
