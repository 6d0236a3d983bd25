"""Stage 4, the page: templates rendered with the model, the runtime and the samples.

- assemble: `render_site`, every file of the page
- render: the Jinja2 templates, the designer's first, then the built-in ones (templates/)
- tfjs: the pinned TensorFlow.js files, fetched once and verified
- offline: the service worker of `offline: true`
- single_file: the whole site folded into one .html file
"""
