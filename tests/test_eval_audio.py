"""`tmbuild eval` on an audio model: labelled clips through the listening page's classifyAudio,
the clip's answer from its windows, and noise and level changes for the robustness table.

The rule and the changes are tested without a browser (the changes' JavaScript runs in Node.js,
where there is one); the command runs on the example model (examples/words) and its held-out
clips (examples/words-clips) in headless Chromium.
"""

from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from support.audio import SAMPLE_RATE, write_wav
from support.eval_helpers import run

from tmbuild.evaluate.clips import background_aliases, classify_clips, deciding_window
from tmbuild.evaluate.headless import SitePage, chromium, open_site
from tmbuild.evaluate.labelled import FolderMatch, LabelledFolders, list_labelled
from tmbuild.evaluate.metrics import Prediction
from tmbuild.evaluate.perturb import Perturbation, robustness_summary
from tmbuild.evaluate.run import EvalOptions, _report
from tmbuild.evaluate.sound_perturb import (
    SOUND_PERTURB_JS,
    SOUND_PERTURBATIONS,
    WAV_JS,
    noise_seed,
)
from tmbuild.evaluate.summary import summary

ROOT = Path(__file__).resolve().parent.parent
WORDS = ROOT / "examples" / "words"
CLIPS = ROOT / "examples" / "words-clips"
LABELS = ["_background_noise_", "left", "right", "stop"]


# ---- the clip's answer, from its windows ------------------------------------------------------


def test_a_word_clip_is_answered_by_its_strongest_word():
    windows = [
        [0.90, 0.05, 0.03, 0.02],  # background noise before the word
        [0.20, 0.55, 0.20, 0.05],  # the word's start
        [0.05, 0.85, 0.05, 0.05],  # the word: the strongest word of the clip
        [0.80, 0.10, 0.05, 0.05],
    ]
    assert deciding_window(windows, background=0) == 2


def test_a_background_clip_is_answered_by_its_most_word_like_window():
    quiet = [[0.97, 0.01, 0.01, 0.01], [0.70, 0.05, 0.20, 0.05], [0.99, 0.0, 0.01, 0.0]]
    index = deciding_window(quiet, background=0)
    # Its most word-like window is still topped by background noise: answered background,
    # with that window's (lowest) background probability, so a threshold accepts it only
    # where the page was sure of background throughout.
    assert index == 1
    assert Prediction("x", 0, tuple(quiet[index])).predicted == 0
    noisy = [[0.97, 0.01, 0.01, 0.01], [0.30, 0.05, 0.60, 0.05]]
    index = deciding_window(noisy, background=0)
    # A word the page shows over background noise is a mistake, at that word's probability.
    assert Prediction("x", 0, tuple(noisy[index])).predicted == 2


def test_equal_windows_give_the_earliest_and_no_background_label_the_top():
    assert deciding_window([[0.1, 0.5, 0.4], [0.1, 0.5, 0.4]], background=0) == 0
    assert deciding_window([[0.9, 0.1], [0.6, 0.4]], background=None) == 0


def test_background_folders_match_the_background_label_beneath_site_yaml_aliases():
    aliases = background_aliases(LABELS, {"noise": "stop"})
    assert aliases["background"] == aliases["silence"] == "_background_noise_"
    assert aliases["noise"] == "stop"  # site.yaml's own alias wins
    assert background_aliases(["yes", "no"], {}) == {}


# ---- the changes, run in Node.js --------------------------------------------------------------


def _node(script: str, tmp_path: Path) -> dict:
    if shutil.which("node") is None:
        pytest.skip("Node.js is absent: the changes' JavaScript is tested in Chromium only")
    path = tmp_path / "run.mjs"
    path.write_text(
        f"const perturb = {SOUND_PERTURB_JS};\nconst wav = {WAV_JS};\n{script}", encoding="utf-8"
    )
    done = subprocess.run(["node", str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _word(seconds: float = 2.0) -> np.ndarray:
    """A second of tone between two halves of near silence: a word in a quiet clip."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    loud = (t > 0.5) & (t < 1.5)
    return np.where(loud, 0.7 * np.sin(2 * np.pi * 440 * t), 0.001 * np.sin(2 * np.pi * 50 * t))


def _changed(tmp_path: Path, samples: np.ndarray, specs: dict, seed: int = 7) -> dict:
    values = json.dumps([float(v) for v in np.float32(samples)])
    script = f"""
const out = {{}};
for (const [name, spec] of Object.entries({json.dumps(specs)})) {{
  const channels = [Float32Array.from({values})];
  out[name] = Array.from(perturb(channels, spec, {seed}, {SAMPLE_RATE})[0]);
}}
process.stdout.write(JSON.stringify(out));
"""
    return {name: np.array(values) for name, values in _node(script, tmp_path).items()}


def test_gain_scales_and_clips_as_a_recorder_does(tmp_path):
    samples = _word()
    changed = _changed(tmp_path, samples, {"quiet": {"gain": -20}, "loud": {"gain": 6}})
    original = np.float32(samples).astype(np.float64)
    assert np.allclose(changed["quiet"], np.float32(original * 0.1), atol=1e-7)
    loud = original * 10 ** (6 / 20)
    assert np.allclose(changed["loud"], np.float32(np.clip(loud, -1, 1)), atol=1e-7)
    assert changed["loud"].max() == 1.0 and (np.abs(loud) > 1).any()


def _snr(clean: np.ndarray, noisy: np.ndarray) -> float:
    """The signal's loudest second against the noise added, in dB."""
    noise = noisy - clean
    sums = np.concatenate([[0.0], np.cumsum(clean**2)])
    power = (sums[SAMPLE_RATE:] - sums[:-SAMPLE_RATE]).max() / SAMPLE_RATE
    return 10 * math.log10(power / np.mean(noise**2))


def test_noise_sits_the_asked_decibels_below_the_loudest_second(tmp_path):
    samples = _word()
    specs = {
        f"{colour}-{snr}": {"noise": colour, "snr": snr}
        for colour in ("white", "pink")
        for snr in (20, 5)
    }
    changed = _changed(tmp_path, samples, specs)
    clean = np.float32(samples).astype(np.float64)
    for name, noisy in changed.items():
        assert _snr(clean, noisy) == pytest.approx(int(name.split("-")[1]), abs=0.01)
    # Pink noise has most of its power low, white noise spreads it evenly.
    for colour, low_share in (("white", (0.0, 0.1)), ("pink", (0.4, 1.0))):
        spectrum = np.abs(np.fft.rfft(changed[f"{colour}-5"] - clean)) ** 2
        below_1k = spectrum[: len(spectrum) * 1000 // (SAMPLE_RATE // 2)].sum() / spectrum.sum()
        assert low_share[0] < below_1k < low_share[1], (colour, below_1k)


def test_noise_is_the_same_for_the_same_seed_and_new_for_another(tmp_path):
    samples = _word(1.0)
    spec = {"n": {"noise": "white", "snr": 10}}
    first, again = _changed(tmp_path, samples, spec, 7), _changed(tmp_path, samples, spec, 7)
    other = _changed(tmp_path, samples, spec, 8)
    assert np.array_equal(first["n"], again["n"]) and not np.array_equal(first["n"], other["n"])
    assert noise_seed(0, "left/a.wav", "pink-noise-5db") == noise_seed(
        0, "left/a.wav", "pink-noise-5db"
    )
    assert noise_seed(0, "left/a.wav", "pink-noise-5db") != noise_seed(
        0, "left/b.wav", "pink-noise-5db"
    )


def test_digital_silence_gets_no_noise(tmp_path):
    changed = _changed(tmp_path, np.zeros(4410), {"n": {"noise": "pink", "snr": 5}})
    assert not changed["n"].any()


def test_the_wav_holds_exactly_the_changed_samples(tmp_path):
    script = """
const left = Float32Array.from([0, 0.5, -1, 1e-9, 0.3333333]);
const right = Float32Array.from([1, -0.25, 0.125, 0, -0.7]);
process.stdout.write(JSON.stringify(Array.from(wav([left, right], 44100))));
"""
    data = bytes(_node(script, tmp_path))
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    fmt, channels, rate = struct.unpack("<HHI", data[20:28])
    assert (fmt, channels, rate) == (3, 2, 44100)
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    samples = np.frombuffer(data[44:], "<f4").reshape(-1, 2)
    assert samples[:, 0].tolist() == np.float32([0, 0.5, -1, 1e-9, 0.3333333]).tolist()
    assert samples[:, 1].tolist() == np.float32([1, -0.25, 0.125, 0, -0.7]).tolist()


# ---- the report's words -----------------------------------------------------------------------


def test_the_robustness_table_lists_the_sound_changes_and_says_what_to_record():
    accuracies = {"original": 0.9, "white-noise-5db": 0.5, "quieter-20db": 0.9}
    table = robustness_summary(accuracies, 10, SOUND_PERTURBATIONS)
    assert [row["name"] for row in table["perturbations"]] == [
        "original",
        "white-noise-5db",
        "quieter-20db",
    ]
    assert table["warnings"] == [
        "accuracy falls from 90% to 50% when white noise is 5 dB below the sound, like hiss "
        "(a fan, a cheap microphone): add training clips recorded in noisier places"
    ]


def test_the_summary_counts_clips_and_seconds():
    predictions = [Prediction(f"{label}/{i}.wav", n, tuple(0.97 if j == n else 0.01 for j in
                   range(4))) for n, label in enumerate(LABELS) for i in range(3)]  # fmt: skip
    page = SitePage(None, LABELS, "wasm", 0, 0.7, 0.0, [], kind="audio")
    folders = LabelledFolders(Path("clips"), {label: [] for label in LABELS})
    match = FolderMatch({label: label for label in LABELS}, [], [])
    model = {"name": "words", "quantize": "none", "bytes": 1000}
    options = EvalOptions(images=Path("clips"))
    report = _report(page, model, options, folders, match, predictions, [], "clips")
    report["images"]["seconds"] = 14.4
    text = summary(report)
    assert "on 12 clips, 14.4 s (balanced" in text
    assert "  label                    precision          recall     F1   clips" in text
    assert "none of the clips was used for training" in text
    assert report["verdict"]["text"].endswith("more clips per label would decide it")
    assert report["warnings"][0].startswith("fewer than 20 held-out clips for ")


# ---- the command, on the example model -------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The example audio model's site, built once, uncompressed as eval builds its own."""
    if not (WORDS / "weights.bin").is_file() or not CLIPS.is_dir():
        pytest.skip("the example audio model (examples/words, examples/words-clips) is absent")
    folder = tmp_path_factory.mktemp("words")
    (folder / "site.yaml").write_text(
        f"model:\n  path: {WORDS}\ncompress:\n  gzip: false\n  brotli: false\n", "utf-8"
    )
    built = run("build", "-q", "-c", folder / "site.yaml", "-o", folder / "site")
    assert built.exit_code == 0, built.output
    return folder / "site"


@pytest.mark.browser
def test_an_unchanged_clip_gives_its_files_answer_and_noise_the_same_answer_twice(site):
    clips = list_labelled(CLIPS).all_images()
    unchanged = Perturbation("unchanged", "", "", "", {"gain": 0})
    noisy = next(p for p in SOUND_PERTURBATIONS if p.name == "pink-noise-5db")
    with chromium() as browser, open_site(browser, site) as page:
        assert page.kind == "audio" and page.labels == LABELS
        files = classify_clips(page, clips)
        same = classify_clips(page, clips, unchanged)
        first, again = (classify_clips(page, clips, noisy) for _ in range(2))
    assert [o.windows for o in same] == [o.windows for o in files]
    assert [o.windows for o in first] == [o.windows for o in again]
    assert [o.windows for o in first] != [o.windows for o in files]
    assert all(o.error is None and o.windows for o in files)


@pytest.mark.browser
def test_eval_on_the_example_audio_model(tmp_path, monkeypatch, site):
    monkeypatch.chdir(tmp_path)
    clips = tmp_path / "clips"
    for folder in sorted(CLIPS.iterdir()):  # a clip a label, and one more to find as leaked
        kept = sorted(folder.glob("*.wav"))[: 2 if folder.name == "left" else 1]
        (clips / folder.name).mkdir(parents=True)
        for clip in kept:
            shutil.copyfile(clip, clips / folder.name / clip.name)
    (clips / "_background_noise_").rename(clips / "Background")  # Teachable Machine's name
    (clips / "left" / "notes.txt").write_text("not a sound", encoding="utf-8")
    write_wav(clips / "stop" / "silent.wav", np.zeros(SAMPLE_RATE // 4))
    training = tmp_path / "training" / "left"
    training.mkdir(parents=True)
    leaked = sorted((CLIPS / "left").iterdir())[0]
    shutil.copyfile(leaked, training / "copy.wav")
    args = ["eval", "--site", site, "--clips", clips, "-o", "report", "--robustness"]
    result = run(*args, "--training", tmp_path / "training")
    assert result.exit_code == 0, result.output
    count = sum(1 for path in clips.rglob("*") if path.is_file())
    heard = count - 3  # the text, the silence and the leaked clip
    classifications = heard * (1 + len(SOUND_PERTURBATIONS)) + 3 + 1
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"Classified {count - 1} clips (")  # the leaked one left out
    assert f" s of sound, {classifications} classifications) in " in first
    report = json.loads(Path("report/eval.json").read_text("utf-8"))
    assert report["model"]["labels"] == LABELS
    assert report["images"]["unit"] == "clips"
    assert report["images"]["folders"]["Background"]["label"] == "_background_noise_"
    assert report["leakage"]["duplicates"] == [
        {"image": f"left/{leaked.name}", "training": "left/copy.wav", "kind": "exact", "bits": 0}
    ]
    undecodable = {item["image"]: item["reason"] for item in report["images"]["undecodable"]}
    assert undecodable["left/notes.txt"].startswith("not a sound this browser can decode")
    assert undecodable["stop/silent.wav"] == (
        "0.25 s, and the page heard no sound in it (digital silence): no answer"
    )
    assert report["images"]["classified"] == heard
    assert report["images"]["seconds"] == pytest.approx(1.2 * heard, abs=0.01)
    for entry in report["predictions"]:
        truth = entry["image"].split("/")[0]
        assert entry["truth"] == ("_background_noise_" if truth == "Background" else truth)
        start, end = entry["window"]
        assert 0 <= start < end <= 1.2 + 1e-6 and entry["windows"] >= 1
    words = [p for p in report["predictions"] if p["truth"] != "_background_noise_"]
    assert all(p["predicted"] == p["truth"] for p in words), words
    rows = report["robustness"]["perturbations"]
    assert [row["name"] for row in rows] == ["original"] + [p.name for p in SOUND_PERTURBATIONS]
    assert rows[0]["accuracy"] == report["accuracy"]
    again = run(*args, "--training", tmp_path / "training", "-o", "again")
    assert again.exit_code == 0, again.output
    assert Path("again/eval.json").read_bytes() == Path("report/eval.json").read_bytes()
    html = Path("report/eval.html").read_text("utf-8")
    assert '<svg id="robustness-chart"' in html and "held-out clips" in html


def test_split_says_clips_for_a_folder_of_recordings(tmp_path):
    for label in ("left", "right"):
        (tmp_path / "recordings" / label).mkdir(parents=True)
        for index in range(5):
            write_wav(tmp_path / "recordings" / label / f"{index}.wav", np.zeros(4410))
    result = run("split", tmp_path / "recordings", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    out = tmp_path / "out"
    assert (
        lines[0] == f"Split 10 clips of 2 labels (seed 0): 8 to {out}/train/, 2 to {out}/holdout/"
    )
    assert lines[-1].endswith(f"then tmbuild eval --clips {out}/holdout")
