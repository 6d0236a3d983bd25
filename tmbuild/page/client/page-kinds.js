/* What each kind of model adds to the page's elements. page-audio.js and page-pose.js register
 * their elements and hooks here when they run; the build bundles a site's page.js with its own
 * kind's module only (bundle.py), so an image site downloads neither. Unbundled, a page loads
 * its kind's module (page-audio.js, page-pose.js) as a module script before page.js.
 *
 * The parts, all optional: elements {tag: class}; label(scope, label) → the words shown for a
 * label; verdict(scope, result) → the verdict's words in place of the label's; showFile(scope,
 * file) for an uploaded file; failure(scope, during, code) → the words for an error event.
 *
 * Kept on window, shared by every copy of this module: two embedded classifiers of different
 * kinds on one page each ship their own page.js, and whichever defined <tm-result> first shows
 * the other's results too. The name carries the version of these parts. */

const KEY = "__tmbuildPageKinds1";
const kinds = window[KEY] || (window[KEY] = new Map());

export function registerPageKind(kind, parts) {
  kinds.set(kind, parts);
}

// The parts of the kind of model a scope shows ({} for an image model's).
export function kindOf(scope) {
  const model = scope.config && scope.config.model;
  return (model && kinds.get(model.kind)) || {};
}

// The elements of every kind registered on this page.
export function kindElements() {
  return Object.assign({}, ...Array.from(kinds.values(), (parts) => parts.elements || {}));
}

// A label as the visitor reads it: an audio model's background class is no word, for example.
export function shownLabel(scope, label) {
  const own = kindOf(scope).label;
  return own ? own(scope, label) : label;
}
