"""Our page predicts what Teachable Machine's own library predicts, on real labelled images.

The built page and a reference page running `@teachablemachine/image@0.8.5` (in a same-origin
iframe) share one headless Chromium. Every image is decoded once, as an `<img>` of the built
page's document that is never attached to the DOM (so its `width`/`height`, which the library's
`cropTo` reads, are its natural size, like the `naturalWidth` our page reads), and that one
element goes to both `window.tmbuild.classify` and the library's `model.predict`.

The page crops and resizes from the decoded pixels itself (tmbuild/page/client/image.js, the
same on every engine), where the library lets the browser's drawImage do it, so the two see
slightly different pixels: each image also goes to the library as the very square the page
classified (a 224×224 canvas, which its cropTo copies unscaled), and there the two must agree
within 1e-3. Against the library on the `<img>` itself, the top label and the probabilities
are held to what bench/resample.py measured for the area filter (docs/browsers.md).

Both sides run on the same backend, so that a difference can only come from how the image
becomes a tensor: WASM, because on `cpu` (a MobileNet in plain JavaScript, twice per image) the
182 images took 133 s against 12 s, and because WebGL here is SwiftShader. TensorFlow.js 1.3.1,
the library's peerDependency, has no WASM backend (its first release is 1.5.0-alpha), so the
library runs on 4.22.0, the version our page ships, which still has every method it calls. A
second test runs it on 1.3.1 and `cpu` on a few images of epi-pt4 that hold every label and every
file type between them, to show that the reference does not depend on the TensorFlow.js version
(brands6 is the same MobileNetV2 with other weights, and only JPEGs).
"""

from __future__ import annotations

import dataclasses
import struct
import urllib.parse
from pathlib import Path

import pytest
from conftest import real_export
from support import official_tm
from support.browser import chromium

from tmbuild.build import build
from tmbuild.config.load import load_config
from tmbuild.evaluate.labelled import list_labelled

pytestmark = pytest.mark.browser

EXPORTS_WITH_IMAGES = ["brands6-imgs", "epi-pt4-imgs"]
TOLERANCE = 1e-3  # float32 model (quantize: none) and one backend: rounding is far below this
# The library resizing the <img> with Chromium's drawImage, against the page's own area
# average: bench/resample.py measured a largest difference of 0.19 (epi-pt4) and 0.052
# (brands6), and one image of each with another top label (of 107 and 75).
RESIZE_TOLERANCE = 0.25
RESIZE_OTHER_TOP = 0.02  # of the images compared, and one image at least
BATCH = 32  # images per page.evaluate: few round trips, each well inside Playwright's timeout

OPEN_REFERENCE = """async () => {
  const frame = document.createElement("iframe");
  frame.id = "official";
  frame.hidden = true;
  await new Promise((resolve, reject) => {
    frame.onload = resolve;
    frame.onerror = () => reject(new Error("the reference page did not load"));
    frame.src = "/official/index.html";
    document.body.append(frame);
  });
  return frame.contentWindow.official;
}"""

# One element per image, made as the page's upload preview is (src, then the load event);
# an image the browser cannot decode is reported, not skipped.
CLASSIFY_BOTH = """async ({ urls, flipped }) => {
  const official = document.getElementById("official").contentWindow;
  const results = [];
  for (const url of urls) {
    const image = new Image();
    const loaded = new Promise((resolve, reject) => {
      image.onload = resolve;
      image.onerror = () => reject(new Error("the browser cannot decode it"));
    });
    image.src = url;
    try {
      await loaded;
    } catch (error) {
      results.push({ url, error: error.message });
      continue;
    }
    // The square the page's model read, caught on its way in.
    const model = window.tmbuild.model;
    const classifyInput = model.classify;
    let input = null;
    model.classify = (pixels) => { input = pixels; return classifyInput(pixels); };
    let ours;
    try {
      ours = await window.tmbuild.classify(image, { flipped });
    } finally {
      model.classify = classifyInput;
    }
    const square = document.createElement("canvas");
    square.width = input.width;
    square.height = input.height;
    if (input instanceof ImageData) square.getContext("2d").putImageData(input, 0, 0);
    else square.getContext("2d").drawImage(input, 0, 0);
    const theirs = await official.officialPredict(image, flipped);
    const theirsOnOurs = await official.officialPredict(square, false); // mirrored already
    const byLabel = (predictions) => Object.fromEntries(predictions.map((p) => [p.className,
      p.probability]));
    results.push({
      url,
      size: [image.width, image.height],
      ours: Object.fromEntries(ours.predictions.map((p) => [p.label, p.probability])),
      theirs: byLabel(theirs),
      theirsOnOurs: byLabel(theirsOnOurs),
    });
  }
  return results;
}"""


@dataclasses.dataclass
class Comparison:
    compared: int
    max_diff: float  # from the library given the page's own square
    undecodable: list[str]
    disagreements: list[str]
    sizes: dict[str, list[int]]  # image name -> [width, height] as the browser decoded it
    resize_diff: float = 0.0  # from the library resizing the <img> with drawImage
    resize_top1: int = 0  # images whose top label is the same as there

    def summary(self, name: str) -> str:
        return (
            f"{name}: {self.compared} images compared, max |Δp| {self.max_diff:.3g} on the same "
            f"square; with the library's own drawImage resize: max |Δp| "
            f"{self.resize_diff:.3g}, same top label {self.resize_top1}/{self.compared}; "
            f"undecodable: {self.undecodable or 'none'}"
        )


def labelled_images(export: Path) -> tuple[Path, list[Path]]:
    """The shared export's images, listed as `tmbuild eval` lists them."""
    root = export.parent / "images"
    images = [image.path for image in list_labelled(root).all_images()]
    assert images, f"{root} holds no labelled images"
    return root, images


def compare(
    tmp_path: Path,
    export: Path,
    images_root: Path,
    images: list[Path],
    tfjs: tuple[str, str],
    backend: str,
    flipped: bool = False,
) -> Comparison:
    """Classify `images` with our built page and with the library; collect what differs."""
    for package in (official_tm.TM_IMAGE, tfjs):  # fetched once, or a skip without npm
        official_tm.tarball(package)
    overrides = {"model_path": export, "output": tmp_path / "dist", "quantize": "none"}
    config, _ = load_config(None, overrides)
    config = dataclasses.replace(
        config, classifier=dataclasses.replace(config.classifier, backend=backend)
    )
    build(config)
    reference = official_tm.write_official_page(tmp_path / "official", export, tfjs, backend)
    urls = {
        "/images/" + urllib.parse.quote(path.relative_to(images_root).as_posix()): path
        for path in images
    }
    mounts = {"/official/": reference, "/images/": images_root}
    with official_tm.serve(config.output, mounts) as url, chromium() as context:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
        page.goto(url + "/")
        ours = page.evaluate("window.tmbuild.ready")
        theirs = page.evaluate(OPEN_REFERENCE)
        assert (ours["backend"], theirs["backend"], theirs["tfjs"]) == (backend, backend, tfjs[1])
        assert theirs["labels"] == ours["labels"]
        results = []
        pending = list(urls)
        for start in range(0, len(pending), BATCH):
            batch = {"urls": pending[start : start + BATCH], "flipped": flipped}
            results += page.evaluate(CLASSIFY_BOTH, batch)
        assert problems == []
    assert [r["url"] for r in results] == list(urls)

    comparison = Comparison(0, 0.0, [], [], {})
    for result in results:
        name = str(urls[result["url"]].relative_to(images_root))
        if "error" in result:
            comparison.undecodable.append(name)
            continue
        comparison.compared += 1
        comparison.sizes[name] = result["size"]
        ours, theirs, resized = result["ours"], result["theirsOnOurs"], result["theirs"]
        assert ours.keys() == theirs.keys() == resized.keys(), result
        diff = max(abs(ours[label] - theirs[label]) for label in ours)
        comparison.max_diff = max(comparison.max_diff, diff)
        top_ours, top_theirs = max(ours, key=ours.get), max(theirs, key=theirs.get)
        resize_diff = max(abs(ours[label] - resized[label]) for label in ours)
        comparison.resize_diff = max(comparison.resize_diff, resize_diff)
        comparison.resize_top1 += top_ours == max(resized, key=resized.get)
        if diff > TOLERANCE or top_ours != top_theirs:
            comparison.disagreements.append(
                f"{name} {result['size']}: ours {top_ours} {ours}, "
                f"Teachable Machine {top_theirs} {theirs} (max |Δp| {diff:.2g})"
            )
    return comparison


def assert_agree(comparison: Comparison, expected: int) -> None:
    assert not comparison.undecodable, f"Chromium could not decode {comparison.undecodable}"
    assert comparison.compared == expected
    assert not comparison.disagreements, (
        f"{len(comparison.disagreements)} of {comparison.compared} images disagree:\n"
        + "\n".join(comparison.disagreements)
    )
    assert comparison.resize_diff <= RESIZE_TOLERANCE, comparison.summary("drawImage")
    other_top = comparison.compared - comparison.resize_top1
    assert other_top <= max(1, RESIZE_OTHER_TOP * comparison.compared), comparison.summary("")


@pytest.mark.parametrize("name", EXPORTS_WITH_IMAGES)
def test_every_labelled_image_agrees_with_teachable_machine(tmp_path, name):
    export = real_export(name)
    root, images = labelled_images(export)
    comparison = compare(tmp_path, export, root, images, official_tm.TFJS_CURRENT, "wasm")
    print("\n" + comparison.summary(name))
    assert_agree(comparison, len(images))


def every_label_and_type(images: list[Path]) -> list[Path]:
    """Few images that hold every label and every file type between them: for each label (in
    order) its first image of a type not yet taken, then the first image of each type left.

    On `cpu` each image costs three MobileNets in plain JavaScript (ours, and the library on the
    `<img>` and on our square), ~1.5 s each on CI: epi-pt4 has 17 label-and-type pairs, this 6.
    The TensorFlow.js version only meets the 224×224 canvas the library's cropTo draws, so the
    file type matters to the browser's decoding, which the 4.22.0 test checks on every image.
    """
    by_label: dict[str, list[Path]] = {}
    for path in images:
        by_label.setdefault(path.parent.name, []).append(path)
    chosen: list[Path] = []
    taken: set[str] = set()
    for paths in by_label.values():
        chosen.append(next((p for p in paths if p.suffix.lower() not in taken), paths[0]))
        taken.add(chosen[-1].suffix.lower())
    for path in images:
        if path.suffix.lower() not in taken:
            chosen.append(path)
            taken.add(path.suffix.lower())
    return sorted(chosen)


def test_the_sample_holds_every_label_and_type():
    def sample(*names: str) -> list[str]:
        return [path.as_posix() for path in every_label_and_type([Path(n) for n in names])]

    assert sample("a/1.jpg", "a/2.png", "b/1.jpg", "b/2.png") == ["a/1.jpg", "b/2.png"]
    assert sample("a/1.jpg", "a/2.png", "a/3.WEBP", "b/1.JPG") == [
        "a/1.jpg",
        "a/2.png",
        "a/3.WEBP",
        "b/1.JPG",
    ]


def test_library_on_its_own_tensorflow_agrees_too(tmp_path):
    """The reference on TensorFlow.js 1.3.1 (its peerDependency), on every label and type."""
    name = "epi-pt4-imgs"  # six file types
    export = real_export(name)
    root, images = labelled_images(export)
    sample = every_label_and_type(images)
    assert {p.parent for p in sample} == {p.parent for p in images}
    assert {p.suffix.lower() for p in sample} == {p.suffix.lower() for p in images}
    comparison = compare(tmp_path, export, root, sample, official_tm.TFJS_PEER, "cpu")
    print("\n" + comparison.summary(f"{name} on TensorFlow.js 1.3.1"))
    assert_agree(comparison, len(sample))


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's frame header."""
    position = 2
    while position + 9 < len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + length
    return None


def _with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG with an EXIF segment holding only an Orientation tag, right after SOI."""
    # Big-endian TIFF header, then IFD0: one entry (tag, SHORT, count 1, value), no next IFD.
    ifd = struct.pack(">HHHIHHI", 1, 0x0112, 3, 1, orientation, 0, 0)
    segment = b"Exif\x00\x00" + b"MM\x00\x2a\x00\x00\x00\x08" + ifd
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + jpeg[2:]


def test_exif_rotated_and_mirrored_images_agree(tmp_path):
    """No shared image is rotated by EXIF, so rotate one; and compare the webcam's flip too."""
    export = real_export("epi-pt4-imgs")
    _, images = labelled_images(export)
    source = next(
        path
        for path in images
        if path.suffix.lower() == ".jpg"
        and b"Exif" not in path.read_bytes()[:4096]
        and (size := _jpeg_size(path.read_bytes())) is not None
        and size[0] != size[1]
    )
    width, height = _jpeg_size(source.read_bytes())
    root = tmp_path / "images"
    (root / "rotated").mkdir(parents=True)
    rotated = []
    for orientation in (3, 6, 8):
        path = root / "rotated" / f"orientation-{orientation}.jpg"
        path.write_bytes(_with_orientation(source.read_bytes(), orientation))
        rotated.append(path)
    comparison = compare(
        tmp_path, export, root, rotated, official_tm.TFJS_CURRENT, "wasm", flipped=True
    )
    print("\n" + comparison.summary(f"{source.name} rotated by EXIF, flipped"))
    # The browser applied the orientation: 6 and 8 turn the image by 90 degrees.
    assert comparison.sizes == {
        "rotated/orientation-3.jpg": [width, height],
        "rotated/orientation-6.jpg": [height, width],
        "rotated/orientation-8.jpg": [height, width],
    }
    assert_agree(comparison, len(rotated))
