"""The page's client code: package code, never a template, so an upgrade always ships both.

- engine.js: the engine, an ES module with a small documented API (loading, the kernels, the
  webcam, events); it touches no element of the page and holds no words for visitors.
- page.js: the page's custom elements (<tm-upload>, <tm-result> …), which show what the engine
  does in whatever subset of them a designer's page keeps, in the words of messages.json.
  With tmbuild.js (embed: element), each <tm-classifier> shows one classifier of its own.
- embed.css: the default look of an embedded classifier, which any rule of the site overrides.
- messages.json: every word a visitor reads, per language.

- bundle: `bundle(entry)`, an entry and the modules it imports as one ES module
- words: `messages(lang, overrides)`, the page's words from messages.json
"""
