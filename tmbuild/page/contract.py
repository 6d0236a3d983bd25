"""The page's contract, checked on each rendered page: a warning line for each part that fails.

The page's script fills in tmbuild's custom elements (client/page.js) wherever a template puts
them; a typo in a tag, a page that no longer loads the engine, or a part of the page before
them (an element with id="verdict") would build without a word and then do nothing.
"""

from __future__ import annotations

from html.parser import HTMLParser

# The elements client/page.js defines (its ELEMENTS), and what each one does.
ELEMENTS = {
    "tm-loading": "progress while the model loads",
    "tm-load-error": "why loading failed, and Retry",
    "tm-backend": "the 'About this classifier' disclosure",
    "tm-error": "a problem with an image",
    "tm-notice": "a warning",
    "tm-upload": "choosing, dropping or pasting an image",
    "tm-webcam": "the webcam",
    "tm-preview": "the image being classified",
    "tm-result": "the verdict and the bars",
    "tm-offline": "the offline and update messages",
    "tm-microphone": "listening: start/stop the microphone (audio models)",
    "tm-spectrogram": "the sound being heard, live (audio models)",
    "tm-timeline": "the labels of an uploaded recording, window by window (audio models)",
    "tm-skeleton": "the pose found, drawn over the video or the photo (pose models)",
    "tm-classifier": "an embedded classifier (embed: element), with the parts above for it",
}
# Each input of site.yaml (classifier.inputs, or audio.inputs for an audio model) and the
# element that offers it.
INPUT_ELEMENTS = (("tm-upload", "upload"), ("tm-webcam", "webcam"), ("tm-microphone", "microphone"))
SAMPLE_ATTRIBUTE = "data-tm-sample"
# Ids the page script of tmbuild 0.1 filled in, and the element that does it now.
FORMER_IDS = {
    "loading": "tm-loading",
    "load-failed": "tm-load-error",
    "load-error": "tm-load-error",
    "retry": "tm-load-error",
    "backend": "tm-backend",
    "notice": "tm-notice",
    "error": "tm-error",
    "dropzone": "tm-upload",
    "file": "tm-upload",
    "webcam-toggle": "tm-webcam",
    "webcam": "tm-webcam",
    "preview": "tm-preview",
    "verdict": "tm-result",
    "predictions": "tm-result",
    "offline-ready": "tm-offline",
    "update": "tm-offline",
}


class _Parts(HTMLParser):
    """What a page holds that the contract is about."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.ids: list[str] = []
        self.samples = 0
        self.script_sources: list[str] = []
        self.config = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append(tag)
        if attributes.get("id"):
            self.ids.append(attributes["id"] or "")
        if SAMPLE_ATTRIBUTE in attributes:
            self.samples += 1
        if tag == "script" and attributes.get("src"):
            self.script_sources.append(attributes["src"] or "")
        if tag == "script" and attributes.get("id") == "tmbuild-config":
            self.config = True


def contract_warnings(
    html: str, scripts: dict[str, dict], inputs: tuple[str, ...] | list[str] = ("upload", "webcam")
) -> list[str]:
    """What in a rendered page would not work, one line each (without the template's name).

    `inputs` is site.yaml's classifier.inputs: an input element it leaves out stays hidden.
    """
    parts = _Parts()
    parts.feed(html)
    used = [tag for tag in dict.fromkeys(parts.tags) if tag.startswith("tm-")]
    warnings = [
        f"<{tag}> is not one of tmbuild's elements ({', '.join(ELEMENTS)}); it shows nothing"
        for tag in used
        if tag not in ELEMENTS
    ]
    engine = scripts["engine"]["url"] in parts.script_sources
    page = scripts["page"]["url"] in parts.script_sources
    if not parts.config:
        warnings.append(
            'has no <script type="application/json" id="tmbuild-config"> '
            "({{ client_config | json_script }}): the classifier cannot start"
        )
    if not engine:
        warnings.append("does not load the engine ({{ scripts.engine.url }}): nothing classifies")
    known = [tag for tag in used if tag in ELEMENTS]
    if (known or parts.samples) and not page:
        shown = f"<{known[0]}>" if known else SAMPLE_ATTRIBUTE
        warnings.append(
            f"uses {shown} but does not load the page's elements ({{{{ scripts.page.url }}}}): "
            "they stay empty"
        )
    for element_id in parts.ids:
        if element_id in FORMER_IDS and FORMER_IDS[element_id] not in known:
            warnings.append(
                f'id="{element_id}" is from tmbuild\'s former page script and is no longer '
                f"filled in; use <{FORMER_IDS[element_id]}> ({ELEMENTS[FORMER_IDS[element_id]]})"
            )
    setting = "audio.inputs" if "microphone" in inputs else "classifier.inputs"
    for tag, name in INPUT_ELEMENTS:
        if tag in known and name not in inputs:
            warnings.append(f"<{tag}> stays hidden: {setting} in site.yaml does not offer {name}")
    offered = {tag for tag, name in INPUT_ELEMENTS if name in inputs}
    if page and not (set(known) & offered) and not parts.samples:
        if "microphone" in inputs:
            warnings.append(
                "has no <tm-microphone> or <tm-upload>: visitors cannot give it a sound (fine "
                "if the page's own script calls window.tmbuild.classifyAudio)"
            )
        else:
            warnings.append(
                f"has no <tm-upload>, <tm-webcam> or {SAMPLE_ATTRIBUTE}: visitors cannot give it "
                "an image (fine if the page's own script calls window.tmbuild.classify)"
            )
    if page and "tm-result" not in known:
        warnings.append("has no <tm-result>: results are shown nowhere on the page")
    return warnings
