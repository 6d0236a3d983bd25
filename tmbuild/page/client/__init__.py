"""The page's client code: package code, never a template, so an upgrade always ships both.

- engine.js: the engine, an ES module with a small documented API (loading, the kernels, the
  webcam, events); it touches no element of the page and holds no words for visitors.
- page.js: the page's custom elements (<tm-upload>, <tm-result> …), which show what the engine
  does in whatever subset of them a designer's page keeps, in the words of messages.json.
  With tmbuild.js (embed: element), each <tm-classifier> shows one classifier of its own.
- kinds.js, page-kinds.js: where an audio or pose model's modules register their parts, so
  that a site's scripts carry its own kind's code only.
- embed.css: the default look of an embedded classifier, which any rule of the site overrides.
- messages.json: every word a visitor reads, per language.

- bundle: `bundle(entry, kind)`, an entry, the modules it imports and that kind of model's
  (sound.js, pose.js …) as one ES module
- words: `messages(lang, overrides)`, the page's words from messages.json
"""
