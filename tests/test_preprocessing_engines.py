"""One photo, one answer: Chromium, Firefox and WebKit agree on every labelled photo.

The page crops and resizes from the decoded pixels itself (tmbuild/page/client/image.js), so
the square its model reads is the same on every engine, and so are the probabilities. Each
engine (tests/support/engines.py) classifies every labelled photo of the epi-pt4 and brands6
exports (182, in JPEG, PNG, WebP, AVIF and JFIF); the square the model read must be the same
bytes as Chromium's, the top label the same and every probability within 1e-4.
"""

from __future__ import annotations

import urllib.parse

import pytest
from conftest import FIXTURES, real_export
from support import official_tm
from support.engines import launch

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.evaluate.labelled import list_labelled

pytestmark = pytest.mark.browser

EXPORTS = ["epi-pt4-imgs", "brands6-imgs"]
TOLERANCE = 1e-4
ENGINES = ("chromium", "firefox", "webkit")

# Every photo through the page's classify; the model's input caught on its way in, and the
# photo's pixels as the engine decoded it, as hashes.
CLASSIFY_ALL = """async (urls) => {
  const model = window.tmbuild.model;
  const classifyInput = model.classify;
  let input = null;
  model.classify = (square) => { input = square; return classifyInput(square); };
  const results = {};
  const fnv = (bytes) => {
    let hash = 2166136261;
    for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 16777619) >>> 0;
    return hash;
  };
  try {
    for (const url of urls) {
      const image = new Image();
      image.src = url;
      await image.decode();
      const result = await window.tmbuild.classify(image);
      const full = document.createElement("canvas");
      [full.width, full.height] = [image.naturalWidth, image.naturalHeight];
      const context = full.getContext("2d", { willReadFrequently: true });
      context.drawImage(image, 0, 0);
      results[url] = { decoded: fnv(context.getImageData(0, 0, full.width, full.height).data),
        input: fnv(input.data), probabilities: Object.fromEntries(
          result.predictions.map((p) => [p.label, p.probability])) };
    }
  } finally {
    model.classify = classifyInput;
  }
  return results;
}"""


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Each export built, by name, with its labelled photos' paths."""
    built = {}
    for name in EXPORTS:
        output = tmp_path_factory.mktemp(name) / "dist"
        config, _ = load_config(None, {"model_path": real_export(name), "output": output})
        build(config)
        root = FIXTURES / name / "images"
        photos = [image.path.relative_to(root).as_posix() for image in list_labelled(root)
                  .all_images()]  # fmt: skip
        built[name] = output, root, photos
    return built


@pytest.fixture(scope="module")
def engines():
    """The three engines, each started once for the module."""
    started = []
    try:
        for name in ENGINES:
            started.append(launch(name))
        yield dict(zip(ENGINES, started, strict=True))
    finally:
        for engine in started:
            engine.close()


def _classify_everywhere(engines, site) -> dict[str, dict]:
    """Each engine's results on the export's photos: {engine: {photo: result}}."""
    output, root, photos = site
    answers = {}
    with official_tm.serve(output, {"/photos/": root}) as url:
        urls = [f"{url}/photos/{urllib.parse.quote(photo)}" for photo in photos]
        for name, engine in engines.items():
            engine.open(url + "/")
            assert engine.evaluate("() => window.tmbuild.ready")["runner"] == "kernels"
            results = engine.evaluate(CLASSIFY_ALL, urls)
            assert engine.problems() == [], name
            answers[name] = {photo: results[u] for photo, u in zip(photos, urls, strict=True)}
    return answers


@pytest.mark.parametrize("name", EXPORTS)
def test_every_engine_gives_every_photo_the_same_answer(engines, sites, name):
    answers = _classify_everywhere(engines, sites[name])
    reference = answers.pop("chromium")
    for engine_name, results in answers.items():
        decoded_otherwise, different_input, different_top = [], [], []
        largest = {True: 0.0, False: 0.0}  # same decoded pixels as Chromium's, or not
        for photo, result in results.items():
            expected = reference[photo]
            same_decode = result["decoded"] == expected["decoded"]
            if not same_decode:
                decoded_otherwise.append(photo)
            elif result["input"] != expected["input"]:
                different_input.append(photo)
            ours, theirs = result["probabilities"], expected["probabilities"]
            if max(ours, key=ours.get) != max(theirs, key=theirs.get):
                different_top.append(photo)
            diff = max(abs(ours[label] - theirs[label]) for label in theirs)
            largest[same_decode] = max(largest[same_decode], diff)
        print(
            f"\n{name} on {engine_name}: {len(results)} photos, {len(decoded_otherwise)} decoded "
            f"otherwise than Chromium ({decoded_otherwise}); max |Δp| {largest[True]:.3g} on the "
            f"others, {largest[False]:.3g} on those; top label changed: {different_top}"
        )
        assert different_input == [], f"{engine_name} read other pixels for {different_input}"
        assert largest[True] <= TOLERANCE, f"{engine_name}: max |Δp| {largest[True]:.3g}"
        assert different_top == [], f"{engine_name} changed the top label of {different_top}"
