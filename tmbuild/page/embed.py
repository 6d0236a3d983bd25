"""`embed: element`: the classifier as a folder any site can hold, behind one stable script.

`tmbuild.js` keeps its name from build to build (hosts revalidate it on every visit); it holds
the classifier's configuration and imports the content-hashed engine and elements beside it,
which browsers cache for good. A page shows the classifier with two lines: the script, and a
`<tm-classifier>` element. Every URL in the configuration is relative to `tmbuild.js`, so the
folder works wherever a site puts it.
"""

from __future__ import annotations

import html
import json

from tmbuild import __version__
from tmbuild.hashes import hashed_name
from tmbuild.page.client.bundle import CLIENT_DIR
from tmbuild.page.client.words import text_direction

ENTRY_NAME = "tmbuild.js"
STYLESHEET = "embed.css"
DEMO_PAGE = "index.html"


def embed_files(
    client_config: dict, scripts: dict[str, dict], name: str, base_url: str
) -> dict[str, bytes]:
    """The entry script, the default parts' stylesheet and a page that shows the snippet.

    `scripts` are the engine's and the elements' bundles by role, with their paths.
    """
    css = (CLIENT_DIR / STYLESHEET).read_bytes()
    css_path = "assets/" + hashed_name(STYLESHEET, css)
    lang = client_config["lang"]
    config = {
        **client_config,
        "embed": {"name": name, "stylesheet": css_path, "dir": text_direction(lang)},
    }
    return {
        css_path: css,
        ENTRY_NAME: entry_script(config, scripts, name),
        DEMO_PAGE: demo_page(name, base_url),
    }


def snippet(name: str, src: str) -> str:
    """The two lines a page needs, for an entry served at `src`."""
    return (
        f'<script type="module" src="{html.escape(src)}"></script>\n'
        f'<tm-classifier name="{html.escape(name)}"></tm-classifier>'
    )


def entry_script(config: dict, scripts: dict[str, dict], name: str) -> bytes:
    """tmbuild.js: the configuration, and the loading of everything else at once.

    On a page of its own the classifier's HTML names the engine and the weights, so they
    download together; here only this script knows them, so it starts the weights' downloads
    (preload links, which the engine's fetches then take over) before it imports the engine
    and the elements side by side, instead of after them.
    """
    # JSON is a JavaScript expression; labels and messages are data in it, never code.
    data = json.dumps(config, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    data = data.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    preloads = [] if config["model"].get("embedded") else config["model"]["shards"]
    lines = [
        f"/* tmbuild {__version__}: the classifier {json.dumps(name)}, for any page:",
        *(f" *   {line}" for line in snippet(name, ".../" + ENTRY_NAME).splitlines()),
        " * This file keeps its name from build to build and is revalidated on every visit;",
        " * the files it loads are named by their content and cached for good. */",
        f"const config = {data};",
        f"for (const path of {json.dumps(preloads)}) {{",
        '  const link = document.createElement("link");',
        '  Object.assign(link, { rel: "preload", as: "fetch", crossOrigin: "anonymous" });',
        "  link.href = new URL(path, import.meta.url).href;",
        "  document.head.append(link);",
        "}",
        # Side by side; the classifier starts as soon as the engine has arrived.
        f'const engine = import("./{scripts["engine"]["path"]}");',
        f'const elements = import("./{scripts["page"]["path"]}");',
        "const { createClassifier } = await engine;",
        "const classifier = createClassifier(config, { base: import.meta.url });",
        "const { embed } = await elements;",
        "embed(classifier, config, import.meta.url);",
        "",
    ]
    return "\n".join(lines).encode("utf-8")


def demo_page(name: str, base_url: str) -> bytes:
    """index.html: the classifier on a bare page, and the snippet to copy."""
    src = f"{base_url}{ENTRY_NAME}" if base_url else ENTRY_NAME
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="tmbuild {__version__}">
<link rel="icon" href="data:,">
<title>{html.escape(name)}: an embedded classifier</title>
<script type="module" src="{html.escape(ENTRY_NAME)}"></script>
</head>
<body>
<h1>The classifier {html.escape(name)}, embedded</h1>
<p>Copy this folder into your site, then put these two lines where the classifier goes
(the script's address is where the folder is served):</p>
<pre><code>{html.escape(snippet(name, src))}</code></pre>
<tm-classifier name="{html.escape(name)}"></tm-classifier>
</body>
</html>
"""
    return page.encode("utf-8")
