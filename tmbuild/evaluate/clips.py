"""Labelled clips through the built page's own `window.tmbuild.classifyAudio`, and the answer
a visitor reads for a whole clip from the page's window-by-window timeline.

Each clip's bytes travel inside the evaluate call (base64, a batch at a time), as images do
(tmbuild.evaluate.classify), and go to `classifyAudio` as a recording dropped on the page goes:
decoded by the browser, played through the page's analyser, classified window by window. With a
change for the robustness table (tmbuild.evaluate.sound_perturb), the page decodes the clip
first, changes its samples and hands `classifyAudio` a WAV of them.

The clip's answer is the page's answer at its most word-like moment: the window in which some
word (any label but `_background_noise_`) is the most probable of the whole clip. Its
probabilities are the clip's: its top label is the clip's prediction, and the threshold and
min_gap accept it as the page accepts that window. A word clip is right when the page's
strongest word is that word; a background clip is right when even its most word-like window
is topped by background noise, so a word the page shows over background counts as a mistake.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tmbuild.errors import TmbuildError
from tmbuild.evaluate.classify import BASE64_JS, Outcome, in_batches, read_payload
from tmbuild.evaluate.headless import SitePage
from tmbuild.evaluate.labelled import LabelledImage
from tmbuild.evaluate.perturb import Perturbation
from tmbuild.evaluate.sound_perturb import SOUND_PERTURB_JS, WAV_JS, noise_seed
from tmbuild.export.audio import BACKGROUND_NOISE

MAX_CLIP_BYTES = 64 * 1024 * 1024  # ten minutes of CD-quality WAV; the page refuses longer
BATCH_CLIPS = 8  # each clip is rendered and classified window by window: fewer than images
BATCH_BYTES = 12 * 1024 * 1024
SAMPLE_RATE = 44100  # the page's (tmbuild/page/client/sound.js)

# Folder names people give Teachable Machine's "Background Noise" class, which the export calls
# `_background_noise_`: matched to it ignoring case, after site.yaml's own eval.aliases.
BACKGROUND_FOLDERS = ("background", "background noise", "background_noise", "noise", "silence")

# `{ clips: [{data, seed}], labels, spec }` -> one result per clip, in order: {duration,
# windows: [{start, end, status, probabilities}]} with probabilities in label order, or {error}.
CLASSIFY_CLIPS_JS = (
    """async ({ clips, labels, spec, rate }) => {
  const perturb = """
    + SOUND_PERTURB_JS
    + """;
  const wav = """
    + WAV_JS
    + """;
  const decode = """
    + BASE64_JS
    + """;
  const results = [];
  for (const item of clips) {
    if (item.error) {
      results.push({ error: item.error });
      continue;
    }
    try {
      let data = decode(item.data);
      if (spec) {
        const Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
        let buffer;
        try {
          buffer = await new Offline(1, 1, rate).decodeAudioData(data.buffer);
        } catch (error) {
          throw new Error("not a sound this browser can decode: " + error.message);
        }
        const channels = [];
        for (let c = 0; c < buffer.numberOfChannels; c++) {
          channels.push(buffer.getChannelData(c).slice());
        }
        data = wav(perturb(channels, spec, item.seed, rate), rate);
      }
      const found = await window.tmbuild.classifyAudio(data.buffer);
      results.push({
        duration: found.duration,
        windows: found.windows.map((w) => {
          const byLabel = new Map(w.predictions.map((p) => [p.label, p.probability]));
          return { start: w.start, end: w.end, status: w.status,
            probabilities: labels.map((label) => byLabel.get(label)) };
        }),
      });
    } catch (error) {
      results.push({ error: String((error && error.message) || error) });
    }
  }
  return results;
}"""
)


@dataclass
class ClipOutcome(Outcome):
    duration: float | None = None  # seconds, as the page decoded it
    window: tuple[float, float] | None = None  # the deciding window's start and end, seconds
    windows: list[list[float]] = field(default_factory=list)  # every window's probabilities


def background_index(labels: list[str]) -> int | None:
    return labels.index(BACKGROUND_NOISE) if BACKGROUND_NOISE in labels else None


def deciding_window(windows: list[list[float]], background: int | None) -> int:
    """The window whose strongest word (any label but the background's) is the clip's strongest;
    the earliest of equals. Without a background label, the window with the highest top."""

    def strength(index: int) -> float:
        probabilities = windows[index]
        words = [p for i, p in enumerate(probabilities) if i != background]
        return max(words) if words else max(probabilities)

    return max(range(len(windows)), key=lambda index: (strength(index), -index))


def background_aliases(labels: list[str], aliases: dict[str, str]) -> dict[str, str]:
    """site.yaml's eval.aliases, with the usual names of the background class added beneath."""
    if BACKGROUND_NOISE not in labels:
        return aliases
    return {**{name: BACKGROUND_NOISE for name in BACKGROUND_FOLDERS}, **aliases}


def classify_clips(
    site: SitePage,
    clips: list[LabelledImage],
    perturbation: Perturbation | None = None,
    progress: Callable[[int], None] | None = None,
    seed: int = 0,
) -> list[ClipOutcome]:
    """Classify each clip in the page, in batches, and decide each clip's answer from its
    windows; `progress(n)` after each batch of n."""
    spec = perturbation.spec if perturbation is not None else None
    background = background_index(site.labels)
    outcomes: list[ClipOutcome] = []
    for batch in in_batches(clips, BATCH_CLIPS, BATCH_BYTES):
        payload = []
        for clip in batch:
            item = read_payload(clip, MAX_CLIP_BYTES, "not a clip")
            if perturbation is not None:
                item["seed"] = noise_seed(seed, clip.name, perturbation.name)
            payload.append(item)
        arguments = {"clips": payload, "labels": site.labels, "spec": spec, "rate": SAMPLE_RATE}
        results = site.page.evaluate(CLASSIFY_CLIPS_JS, arguments)
        if site.errors:
            raise TmbuildError(f"the built page failed while classifying: {site.errors[0]}")
        for clip, result in zip(batch, results, strict=True):
            outcomes.append(_outcome(clip, result, background))
        if progress is not None:
            progress(len(batch))
    return outcomes


def _outcome(clip: LabelledImage, result: dict, background: int | None) -> ClipOutcome:
    if result.get("error"):
        return ClipOutcome(clip, None, None, result["error"])
    windows = result["windows"]
    duration = result["duration"]
    if not windows:
        # The page drops the frames of digital silence, as speech-commands does; a clip of
        # nothing else (or under one frame, 23 ms) gives it no window, so no answer to score.
        return ClipOutcome(
            clip,
            None,
            None,
            f"{duration:.2f} s, and the page heard no sound in it (digital silence): no answer",
            duration=duration,
        )
    index = deciding_window([w["probabilities"] for w in windows], background)
    chosen = windows[index]
    return ClipOutcome(
        clip,
        chosen["probabilities"],
        chosen["status"],
        None,
        duration=duration,
        window=(float(chosen["start"]), float(chosen["end"])),
        windows=[w["probabilities"] for w in windows],
    )
