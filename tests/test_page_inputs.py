"""The page's inputs and results in Chromium: upload, bad files, hostile labels, no tensor leaks."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import ROOT, write_export
from support.browser import CLASSIFY_SAMPLE, chromium, serve_site

from tmbuild.build import build
from tmbuild.config.load import load_config

pytestmark = pytest.mark.browser

SAMPLES = ROOT / "examples" / "samples"


@pytest.fixture(scope="module")
def context():
    # One browser for the module: Playwright's sync API cannot run two at once.
    with chromium() as context:
        yield context


@pytest.fixture(scope="module")
def page(example_site, context):
    with serve_site(example_site) as url:
        page = context.new_page()
        page.goto(url + "/")
        page.evaluate("window.tmbuild.ready")
        yield page


def _verdict_after(page, action) -> str:
    page.evaluate("document.querySelector('tm-result .verdict').textContent = ''")
    action()
    page.wait_for_function("() => document.querySelector('tm-result .verdict').textContent !== ''")
    return page.text_content("tm-result .verdict")


def test_an_uploaded_file_is_classified_from_its_load_event(page):
    for name in ("star-1.png", "triangle-2.png"):
        upload = SAMPLES / name
        verdict = _verdict_after(
            page, lambda upload=upload: page.set_input_files("tm-upload input[type=file]", upload)
        )
        assert verdict == name.split("-")[0]
        assert page.is_visible("tm-preview")
    bars = page.query_selector_all("tm-result li")
    assert len(bars) == 3  # top_k
    assert bars[0].query_selector(".label").text_content() == "triangle"


def test_a_file_the_browser_cannot_decode_gets_a_friendly_message(page, tmp_path):
    broken = tmp_path / "holiday.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    page.set_input_files("tm-upload input[type=file]", broken)
    page.locator("tm-error").wait_for()
    assert page.text_content("tm-error") == (
        "holiday.jpg is not an image this browser can read. Try a JPEG, PNG or WebP file."
    )
    assert not page.is_visible("tm-preview")
    assert page.text_content("tm-result .verdict") == ""  # no stale result from an earlier image
    # The next good image clears the message.
    verdict = _verdict_after(
        page, lambda: page.set_input_files("tm-upload input[type=file]", SAMPLES / "circle-1.png")
    )
    assert verdict == "circle"
    assert not page.is_visible("tm-error")


def test_a_file_that_is_not_an_image_is_named(page, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    page.set_input_files("tm-upload input[type=file]", notes)
    page.locator("tm-error").wait_for()
    assert page.text_content("tm-error") == (
        "notes.txt is not an image: choose a photo or a picture file."
    )


def test_the_dropzone_opens_the_file_picker_from_the_keyboard(page):
    page.evaluate(
        """() => {
          window.pickerOpened = 0;
          const input = document.querySelector('tm-upload input[type=file]');
          input.addEventListener('click', (event) => {
            window.pickerOpened += 1;
            event.preventDefault();  // no native dialog in a headless test
          });
        }"""
    )
    page.focus("tm-upload .dropzone")
    page.keyboard.press("Enter")
    page.keyboard.press("Space")
    assert page.evaluate("window.pickerOpened") == 2


@pytest.fixture(scope="module")
def tensorflow_page(context, tmp_path_factory):
    """The example on TensorFlow.js's WASM backend (`runtime.kernels: false`)."""
    config, _ = load_config(ROOT / "site.yaml", {"output": tmp_path_factory.mktemp("tf") / "d"})
    build(replace(config, runtime=replace(config.runtime, kernels=False)))
    with serve_site(config.output) as url:
        page = context.new_page()
        page.goto(url + "/")
        assert page.evaluate("window.tmbuild.ready")["runner"] == "tensorflow"
        yield page


# Every kind of source, 25 times: the tensor count after each round, and the probabilities.
CLASSIFY_ROUNDS = """async (src) => {
  const img = new Image();
  img.src = src;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = 300; canvas.height = 200;
  canvas.getContext('2d').drawImage(img, 0, 0, 300, 200);
  const bitmap = await createImageBitmap(img);
  const data = canvas.getContext('2d').getImageData(0, 0, 300, 200);
  const rounds = [];
  for (let i = 0; i < 25; i++) {
    const probabilities = [];
    for (const source of [img, canvas, bitmap, data]) {
      const result = await window.tmbuild.classify(source);
      probabilities.push(result.predictions.map((p) => p.label + " " + p.probability));
    }
    rounds.push({ tensors: typeof tf === "undefined" ? null : tf.memory().numTensors,
      probabilities });
  }
  return rounds;
}"""


def test_the_tensor_count_stays_constant_across_predictions(tensorflow_page):
    page = tensorflow_page
    sample = page.get_attribute(".sample >> nth=0", "data-tm-sample")
    page.evaluate(CLASSIFY_SAMPLE, sample)
    before = page.evaluate("tf.memory().numTensors")
    rounds = page.evaluate(CLASSIFY_ROUNDS, sample)
    assert {r["tensors"] for r in rounds} == {before}


def test_the_kernels_give_the_same_answer_every_time(page):
    # The kernels reuse their buffers from one prediction to the next: nothing may carry over.
    assert page.evaluate("window.tmbuild.ready")["runner"] == "kernels"
    sample = page.get_attribute(".sample >> nth=0", "data-tm-sample")
    rounds = page.evaluate(CLASSIFY_ROUNDS, sample)
    assert all(r["probabilities"] == rounds[0]["probabilities"] for r in rounds)
    assert page.evaluate("typeof tf") == "undefined"


def test_sources_that_are_not_ready_are_refused(page):
    errors = page.evaluate(
        """async () => {
          const attempt = (source) => window.tmbuild.classify(source).then(
            () => 'classified', (error) => error.message);
          const pending = new Image();  // no src: never decoded
          const video = document.createElement('video');  // no frame
          return [await attempt(pending), await attempt(video)];
        }"""
    )
    assert errors == [
        "the image is not decoded yet: wait for its load event",
        "the video has no frame yet",
    ]


HOSTILE_LABELS = ["<img src=x onerror=alert(1)>", "{{ 7*7 }}", "</script><b>bold</b>"]


def test_hostile_labels_are_shown_as_text(tmp_path, context):
    export = write_export(tmp_path / "export", labels=HOSTILE_LABELS)
    config, _ = load_config(None, {"model_path": export, "output": tmp_path / "dist"})
    build(replace(config, classifier=replace(config.classifier, top_k=3, threshold=0)))
    with serve_site(tmp_path / "dist") as url:
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(url + "/")
        info = page.evaluate("window.tmbuild.ready")
        assert info["labels"] == HOSTILE_LABELS
        page.evaluate(
            """() => {
              const canvas = document.createElement('canvas');
              canvas.width = canvas.height = 64;
              canvas.getContext('2d').fillRect(0, 0, 32, 32);
              canvas.toBlob((blob) => {
                const input = document.querySelector('tm-upload input[type=file]');
                const transfer = new DataTransfer();
                transfer.items.add(new File([blob], 'x.png', { type: 'image/png' }));
                input.files = transfer.files;
                input.dispatchEvent(new Event('change'));
              });
            }"""
        )
        page.wait_for_selector("tm-result li >> nth=2")
        shown = [e.text_content() for e in page.query_selector_all("tm-result .label")]
        assert sorted(shown) == sorted(HOSTILE_LABELS)
        assert page.query_selector("tm-result img, tm-result b") is None
        assert HOSTILE_LABELS[0] not in page.content()  # only ever escaped in the markup
        assert dialogs == []
