"""`tmbuild split`: set a share of each label's images aside for testing, the same share every time.

Which images are held out is decided by a hash of the seed, the folder and the file name, not by
a random generator: the same seed picks the same images on any machine and Python version, and
adding images to a folder changes the choice only where a new image ranks among the held out.
The source folder is only read; the output gets `train/` (for Teachable Machine) and `holdout/`
(for `tmbuild eval`), both with one folder per label, written to a temporary folder beside it
and renamed into place at the end.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tmbuild.errors import TmbuildError
from tmbuild.evaluate.labelled import LabelledImage, list_labelled

TRAIN, HOLDOUT = "train", "holdout"
# Files the listening page decodes: a folder of nothing else is split, and reported, as clips.
CLIP_SUFFIXES = {".wav", ".mp3", ".ogg", ".opus", ".webm", ".m4a", ".flac", ".aac"}


@dataclass
class SplitResult:
    output: Path
    seed: int
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # folder -> (train, held)
    unit: str = "images"  # or clips, for an audio model's recordings

    def report(self, shown: str) -> str:
        trained = sum(train for train, _ in self.counts.values())
        held = sum(holdout for _, holdout in self.counts.values())
        lines = [
            f"Split {trained + held} {self.unit} of {len(self.counts)} labels (seed {self.seed}): "
            f"{trained} to {shown}/{TRAIN}/, {held} to {shown}/{HOLDOUT}/"
        ]
        width = max(len(folder) for folder in self.counts)
        for folder, (train, holdout) in self.counts.items():
            lines.append(f"  {folder:<{width}}  {train:>5} train  {holdout:>5} held out")
        lines.append(
            f"Next: train on {shown}/{TRAIN}/ in Teachable Machine, export, then "
            f"tmbuild eval --{self.unit} {shown}/{HOLDOUT}"
        )
        return "\n".join(lines)


def held_out_count(total: int, share: float) -> int:
    """How many of a label's `total` images to hold out: the share, rounded, keeping at least one
    image on each side when there are two or more."""
    if total < 2:
        return 0
    return min(total - 1, max(1, math.floor(total * share + 0.5)))


def _rank(seed: int, image: LabelledImage) -> str:
    return hashlib.sha256(f"{seed}\0{image.folder}\0{image.relative}".encode()).hexdigest()


def choose_held_out(images: list[LabelledImage], share: float, seed: int) -> set[str]:
    """The relative names of the images of one label to hold out."""
    ranked = sorted(images, key=lambda image: (_rank(seed, image), image.relative))
    return {image.relative for image in ranked[: held_out_count(len(images), share)]}


def split(source: Path, output: Path, share: float, seed: int) -> SplitResult:
    """Copy each label's images from `source` into `output`/train and `output`/holdout."""
    if not 0 < share < 1:
        raise TmbuildError(f"--holdout {share}: give the share to hold out, such as 0.2")
    folders = list_labelled(source)
    source, target = source.resolve(), output.absolute()
    resolved = target.resolve()
    if resolved == source or source in resolved.parents or resolved in source.parents:
        raise TmbuildError(
            f"{output}: the output must be outside {source} (and not contain it); "
            f"such as {source.name}-split beside it"
        )
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise TmbuildError(f"{output}: already exists; remove it or choose another --output")
    files = folders.all_images()
    clips = files and all(f.path.suffix.lower() in CLIP_SUFFIXES for f in files)
    result = SplitResult(output, seed, unit="clips" if clips else "images")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        for folder, images in folders.images.items():
            held = choose_held_out(images, share, seed)
            for image in images:
                destination = staging / (HOLDOUT if image.relative in held else TRAIN) / folder
                destination = destination / image.relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(image.path, destination)
            result.counts[folder] = (len(images) - len(held), len(held))
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(staging, target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        where = error.filename or output
        raise TmbuildError(f"{where}: cannot copy: {error.strerror or error}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return result
