"""Images through the built page's own `window.tmbuild.classify`, in batches, as uploads go.

Each image's bytes become a Blob, an `<img>` decodes it (applying EXIF orientation), and the
page classifies it on the backend it picks. Images travel inside the evaluate calls (base64, a
batch at a time), so no server needs to see the user's folder and the page's CSP stays as
shipped. The same decoding gives the leakage check its hashes and the report its thumbnails.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

from tmbuild.errors import TmbuildError
from tmbuild.evaluate.headless import SitePage
from tmbuild.evaluate.labelled import LabelledImage
from tmbuild.evaluate.leakage import PHASH_JS
from tmbuild.evaluate.perturb import PERTURB_JS, Perturbation
from tmbuild.evaluate.pose_perturb import POSE_PERTURB_JS, SKELETON_JS

MAX_IMAGE_BYTES = 64 * 1024 * 1024  # larger than any photo; refused rather than sent whole
BATCH_IMAGES = 16  # images per evaluate call: few round trips, each well inside the timeout
BATCH_BYTES = 12 * 1024 * 1024

# `(base64) => Uint8Array`: a file's bytes as read_payload sends them.
BASE64_JS = """(data) => {
    const text = atob(data);
    const bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
    return bytes;
  }"""

# `{ images: [{data}], labels, spec, imageSize, hash, classify, pose }` -> one result per image,
# in order. A file the browser cannot decode gets `error` and the batch goes on; probabilities
# come in label order; `phash` (with `hash`) is the leakage check's hash of the decoded image, and
# `thumbnail` (with `thumbnail`) a small JPEG of it as a data: URL, for the report. On a pose
# page (`pose`) the changes are made inside PoseNet's frame, `poseFound` says whether the page
# found a pose (it answers either way, from PoseNet's features, as Teachable Machine does), and
# a thumbnail has the pose the page finds drawn over it.
THUMBNAIL_PIXELS = 96  # the longer side of the report's thumbnails
CLASSIFY_JS = (
    """async ({ images, labels, spec, imageSize, hash, classify, thumbnail, pose }) => {
  const perturb = pose ? """
    + POSE_PERTURB_JS
    + """ : """
    + PERTURB_JS
    + """;
  const phash = """
    + PHASH_JS
    + """;
  const THUMBNAIL = """
    + str(THUMBNAIL_PIXELS)
    + """;
  const decode = """
    + BASE64_JS
    + """;
  const skeleton = """
    + SKELETON_JS
    + """;
  const results = [];
  for (const item of images) {
    if (item.error) {
      results.push({ error: item.error });
      continue;
    }
    const url = URL.createObjectURL(new Blob([decode(item.data)]));
    const image = new Image();
    try {
      await new Promise((resolve, reject) => {
        image.onload = resolve;
        image.onerror = () => reject(new Error("the browser cannot decode it as an image"));
        image.src = url;
      });
      const entry = { phash: hash ? phash(image) : null };
      if (thumbnail) {
        const scale = Math.min(1, THUMBNAIL / Math.max(image.naturalWidth, image.naturalHeight));
        const canvas = document.createElement("canvas");
        canvas.width = Math.max(1, Math.round(image.naturalWidth * scale));
        canvas.height = Math.max(1, Math.round(image.naturalHeight * scale));
        const context = canvas.getContext("2d");
        context.fillStyle = "#ffffff";
        context.fillRect(0, 0, canvas.width, canvas.height);
        context.drawImage(image, 0, 0, canvas.width, canvas.height);
        if (pose) await skeleton(image, context, scale);
        entry.thumbnail = canvas.toDataURL("image/jpeg", 0.7);
      }
      if (classify) {
        const source = spec ? perturb(image, spec, imageSize) : image;
        const result = await window.tmbuild.classify(source);
        const byLabel = new Map(result.predictions.map((p) => [p.label, p.probability]));
        entry.probabilities = labels.map((label) => byLabel.get(label));
        entry.status = result.status;
        if (pose) {
          entry.poseFound = Boolean(result.pose);
          entry.poseScore = result.pose ? result.pose.score : null;
        }
      }
      results.push(entry);
    } catch (error) {
      results.push({ error: String((error && error.message) || error) });
    } finally {
      URL.revokeObjectURL(url);
    }
  }
  return results;
}"""
)


@dataclass
class Outcome:
    image: LabelledImage
    probabilities: list[float] | None
    status: str | None  # the page's verdict at its own threshold: confident or uncertain
    error: str | None
    phash: int | None = None  # tmbuild.evaluate.leakage's hash, when asked for
    thumbnail: str | None = None  # a data: URL, when asked for
    pose_found: bool | None = None  # on a pose page: whether it found a pose
    pose_score: float | None = None  # PoseNet's score of the pose it found


def classify_images(
    site: SitePage,
    images: list[LabelledImage],
    perturbation: Perturbation | None = None,
    progress: Callable[[int], None] | None = None,
    hash: bool = False,
    classify: bool = True,
    thumbnail: bool = False,
) -> list[Outcome]:
    """Classify each image in the page, in batches; `progress(n)` after each batch of n. With
    `hash`, each also gets its pHash; without `classify`, only that."""
    spec = perturbation.spec if perturbation is not None else None
    outcomes: list[Outcome] = []
    for batch in in_batches(images, BATCH_IMAGES, BATCH_BYTES):
        payload = [read_payload(image, MAX_IMAGE_BYTES, "not a photo") for image in batch]
        arguments = {"images": payload, "labels": site.labels, "spec": spec}
        arguments.update(
            imageSize=site.image_size,
            hash=hash,
            classify=classify,
            thumbnail=thumbnail,
            pose=site.kind == "pose",
        )
        results = site.page.evaluate(CLASSIFY_JS, arguments)
        if site.errors:
            raise TmbuildError(f"the built page failed while classifying: {site.errors[0]}")
        for image, result in zip(batch, results, strict=True):
            phash = result.get("phash")
            outcomes.append(
                Outcome(
                    image,
                    result.get("probabilities"),
                    result.get("status"),
                    result.get("error"),
                    None if phash is None else int(phash, 16),
                    result.get("thumbnail"),
                    result.get("poseFound"),
                    result.get("poseScore"),
                )
            )
        if progress is not None:
            progress(len(batch))
    return outcomes


def in_batches(images: list[LabelledImage], most: int, most_bytes: int):
    """The files in order, in batches of at most `most` files and about `most_bytes` bytes."""
    batch, size = [], 0
    for image in images:
        try:
            length = image.path.stat().st_size
        except OSError:
            length = 0
        if batch and (len(batch) >= most or size + length > most_bytes):
            yield batch
            batch, size = [], 0
        batch.append(image)
        size += length
    if batch:
        yield batch


def read_payload(image: LabelledImage, limit: int, what: str) -> dict:
    """The file's bytes in base64 for the page, or why not: unreadable, or over `limit` bytes
    (then "larger than N MiB; `what`")."""
    try:
        with image.path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as error:
        return {"error": f"cannot read it: {error.strerror or error}"}
    if len(data) > limit:
        return {"error": f"larger than {limit // (1024 * 1024)} MiB; {what}"}
    return {"data": base64.b64encode(data).decode("ascii")}
