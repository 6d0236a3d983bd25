"""The square the page's model reads is the numpy reference's, to the bit, on real photos.

tmbuild/page/client/image.js crops and resizes from the decoded pixels in integer arithmetic;
tests/support/resample.py computes the same in numpy. In Chromium, each photo is decoded as an
`<img>`, its pixels read at natural size (an unscaled canvas), and the input the page's model
receives is caught on its way in (`window.tmbuild.model.classify`): it must equal the reference
computed from those pixels, byte for byte, for an `<img>`, a canvas, an ImageData, mirrored or
not. The same on Firefox and WebKit is tests/test_preprocessing_engines.py.
"""

from __future__ import annotations

import base64
import urllib.parse

import numpy as np
import pytest
from conftest import FIXTURES, real_export
from support import official_tm
from support import resample as reference
from support.browser import chromium

from tmbuild.build import build
from tmbuild.config.load import load_config

pytestmark = pytest.mark.browser

# `source` is how the photo reaches classify: the <img>, a canvas holding it at natural size,
# or that canvas's ImageData. Returns the photo's pixels at natural size and the model's input.
CAPTURE = """async ({ url, source, flipped }) => {
  const image = new Image();
  image.src = url;
  await image.decode();
  const base64 = (bytes) => {
    let text = "";
    for (let i = 0; i < bytes.length; i += 32768) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 32768));
    }
    return btoa(text);
  };
  const full = document.createElement("canvas");
  [full.width, full.height] = [image.naturalWidth, image.naturalHeight];
  const context = full.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, full.width, full.height);
  const given = { image, canvas: full, imageData: pixels }[source];
  const model = window.tmbuild.model;
  const classifyInput = model.classify;
  let input = null;
  model.classify = (square) => { input = square; return classifyInput(square); };
  try {
    await window.tmbuild.classify(given, { flipped });
  } finally {
    model.classify = classifyInput;
  }
  const data = input instanceof ImageData ? input.data
    : input.getContext("2d").getImageData(0, 0, input.width, input.height).data;
  return { width: full.width, height: full.height, side: input.width,
    pixels: base64(new Uint8Array(pixels.data.buffer)),
    input: base64(new Uint8Array(data.buffer)) };
}"""

# (folder under epi-pt4-imgs/images or brands6-imgs/images, how it reaches classify, mirrored):
# landscape and portrait, large and small downscales, every file type, square and 225×224.
CASES = [
    ("epi-pt4-imgs/epi_incompleto/artigo-1707408101.webp", "image", False),
    ("epi-pt4-imgs/epi_incompleto/images.jfif", "image", False),
    ("epi-pt4-imgs/epi_completo/Captura de tela 2026-03-29 105631.png", "image", True),
    ("epi-pt4-imgs/fundo_imagens/estantes-para-paletes-armazem-bilstein-group-portugal.1.0.avif",
     "image", False),
    ("epi-pt4-imgs/epi_incompleto/Capacete-de-Seguranca-com-Jugular-para-trabalhos-em-altura"
     ".jpg.webp", "canvas", False),
    ("brands6-imgs/NIKE/download (4).jpg", "image", False),
    ("brands6-imgs/FERRARI/download (1).jpg", "imageData", True),
    ("brands6-imgs/ADIDAS/download (2).jpg", "canvas", True),
]  # fmt: skip


def _array(text: str, height: int, width: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(height, width, 4)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The epi-pt4 export's page in Chromium, with both exports' photos beside it."""
    export = real_export("epi-pt4-imgs")
    output = tmp_path_factory.mktemp("preprocessing") / "dist"
    config, _ = load_config(None, {"model_path": export, "output": output})
    build(config)
    with official_tm.serve(output, {"/photos/": FIXTURES}) as url, chromium() as context:
        tab = context.new_page()
        tab.goto(url + "/")
        tab.evaluate("window.tmbuild.ready")
        yield tab, url


@pytest.mark.parametrize(("photo", "source", "flipped"), CASES)
def test_the_model_reads_the_reference_square(page, photo, source, flipped):
    tab, url = page
    export, name = photo.split("/", 1)
    address = f"{url}/photos/{export}/images/{urllib.parse.quote(name)}"
    got = tab.evaluate(CAPTURE, {"url": address, "source": source, "flipped": flipped})
    pixels = _array(got["pixels"], got["height"], got["width"])
    assert got["side"] == 224
    square = _array(got["input"], 224, 224)
    expected = reference.crop_and_resize(pixels, 224, "area", flipped)
    wrong = np.argwhere((square[..., :3] != expected[..., :3]).any(axis=-1))
    assert len(wrong) == 0, (
        f"{len(wrong)} of 224×224 pixels differ from the reference, first at {wrong[0].tolist()}: "
        f"{square[tuple(wrong[0])].tolist()} instead of {expected[tuple(wrong[0])].tolist()}"
    )
