"""`--single-file`: the built site folded into one HTML file that works from a double-click.

Opened from disk, a page has no server: every URL it would fetch must already be inside it. The
site is rendered as usual, then folded: the stylesheet and page script inline, images as data:
URLs, the runtime scripts as inert text blocks the page runs when it picks a backend, the WASM
binaries as data: URLs, and the weights as one JSON block (with the topology and weight specs,
loaded with `tf.io.fromMemory`, for a model without a plan). Working on the rendered page keeps
template overrides working.
"""

from __future__ import annotations

import base64
import json
import re
from posixpath import dirname, normpath

from tmbuild.hosts.policy import CONTENT_TYPES
from tmbuild.model.prepare import ModelFiles
from tmbuild.page.assemble import OPENED_FROM_FILE_SCRIPT, SINGLE_FILE_SCRIPT
from tmbuild.page.render import json_for_script

PAGE = "index.html"
_CONFIG_BLOCK = re.compile(
    r'(<script type="application/json" id="tmbuild-config">)(.*?)(</script>)', re.DOTALL
)
_PRELOAD = re.compile(r'<link rel="(?:module)?preload" [^>]*>\n?')
_STYLESHEET = re.compile(r'<link rel="stylesheet" href="([^"]+)"\s*/?>')
# The engine and the page's elements are modules: inline modules run from a file as well.
_SCRIPT = re.compile(r'<script (type="module" )?src="([^"]+)"[^>]*></script>')
# Threads need cross-origin isolation, which a page opened from a file never has, so the
# threaded binary is never fetched; TensorFlow.js still wants a URL for it.
_THREADED_WASM = "tfjs-backend-wasm-threaded-simd.wasm"
_NEVER_FETCHED = "data:application/wasm;base64,"


def single_file_page(files: dict[str, bytes], model: ModelFiles, base_url: str) -> bytes:
    """Fold the site in `files` (as render_site and prepare_model made it) into one page."""
    html = files[PAGE].decode("utf-8")
    urls = {base_url + path: path for path in files}

    match = _CONFIG_BLOCK.search(html)
    if match is None:
        raise ValueError("the page has no tmbuild-config block")  # a template bug, not input
    config = json.loads(match.group(2))
    blocks = _fold_runtime(config, files, urls)
    config["model"]["embedded"] = "tmbuild-model"
    config["model"]["url"] = None
    config["singleFile"] = True
    # str(): Markup would escape the page it is added to.
    html = html[: match.start(2)] + str(json_for_script(config)) + html[match.end(2) :]

    html = _PRELOAD.sub("", html)  # everything is inside already
    html = _STYLESHEET.sub(lambda m: "<style>" + _text(files, urls, m[1]) + "</style>", html)
    html = _SCRIPT.sub(
        lambda m: (
            f"<script {m[1] or ''}>".replace(" >", ">")
            + _script_text(files, urls, m[2])
            + "</script>"
        ),
        html,
    )
    # Whatever else points at a file of the site (the icon, sample images) becomes a data: URL.
    for url in sorted(urls, key=len, reverse=True):
        if f'"{url}"' in html:
            html = html.replace(f'"{url}"', f'"{_data_url(urls[url], files[urls[url]])}"')
    html = html.replace(OPENED_FROM_FILE_SCRIPT, SINGLE_FILE_SCRIPT)

    blocks.append(_block("application/json", "tmbuild-model", str(json_for_script(_model(model)))))
    # Before the configuration, which comes before the page script: they must exist when it runs.
    start = html.index('<script type="application/json" id="tmbuild-config">')
    html = html[:start] + "\n".join(blocks) + "\n" + html[start:]
    return html.encode("utf-8")


def _fold_runtime(config: dict, files: dict[str, bytes], urls: dict[str, str]) -> list[str]:
    """Point the runtime entries of the page config at blocks of the page; return the blocks."""
    blocks = []
    for number, script in enumerate(config["runtime"]["scripts"]):
        element_id = f"tmbuild-runtime-{number}"
        blocks.append(_block("text/plain", element_id, _script_text(files, urls, script["url"])))
        script.update(url=None, integrity=None, inline=element_id)
    wasm = config["runtime"]["wasm"]
    for name, url in wasm.items():
        wasm[name] = (
            _NEVER_FETCHED if name == _THREADED_WASM else _data_url(urls[url], files[urls[url]])
        )
    return blocks


def _model(model: ModelFiles) -> dict:
    """Every shard's bytes in manifest order; and, for tf-layers, the topology and specs.

    With a plan (tmbuild.model.plan) the page's configuration already describes the weights.
    """
    model_json = json.loads(model.files[model.model_json_path])
    folder = dirname(model.model_json_path)
    specs, weights = [], b""
    for group in model_json["weightsManifest"]:
        specs.extend(group["weights"])
        # normpath: a pose model's PoseNet shards sit in a folder of their own.
        weights += b"".join(model.files[normpath(f"{folder}/{path}")] for path in group["paths"])
    embedded = {"weightData": base64.b64encode(weights).decode("ascii")}
    if model.plan is None:
        embedded.update(modelTopology=model_json["modelTopology"], weightSpecs=specs)
    return embedded


def _block(kind: str, element_id: str, text: str) -> str:
    return f'<script type="{kind}" id="{element_id}">{text}</script>'


def _text(files: dict[str, bytes], urls: dict[str, str], url: str) -> str:
    return files[urls[url]].decode("utf-8")


def _script_text(files: dict[str, bytes], urls: dict[str, str], url: str) -> str:
    """Script source that cannot end its <script> element early or open an HTML comment."""
    text = _text(files, urls, url)
    # Inside JavaScript strings, regular expressions and comments, `<\/` reads as `</`.
    text = re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE)
    return text.replace("<!--", "<\\!--")


def _data_url(path: str, data: bytes) -> str:
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    kind = CONTENT_TYPES.get(suffix, "application/octet-stream").split(";")[0]
    return f"data:{kind};base64," + base64.b64encode(data).decode("ascii")
