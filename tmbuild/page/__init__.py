"""Stage 4, the page: templates rendered with the model, the runtime and the samples.

- assemble: `render_site`, every file of the page
- client: the engine and the page's elements (JavaScript, never templates), and their words
  - bundle: an entry and the modules it imports, joined into one ES module
  - words: the page's words from messages.json, by language
- contract: `contract_warnings`, what in a rendered page would not work
- embed: `embed_files`, the classifier as a folder for other sites (tmbuild.js, embed: element)
- render: the Jinja2 templates, the designer's first, then the built-in ones (templates/)
- tfjs: the pinned TensorFlow.js files, fetched once and verified
- offline: the service worker of `offline: true`
- single_file: the whole site folded into one .html file
"""
