"""The pages bench/audio.py measures: Teachable Machine's audio snippet as its export dialog
writes it, and the hooks injected into both sides (#21).

Kept apart from audio.py, which runs the visits and reports them: this is what runs in the
browser, and the snippet's files as its host would serve them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import common
import visits
from support import official_speech

RUNTIME_FILES = ("tf.min.js", "speech-commands.min.js")

# Teachable Machine's export dialog for an audio model ("Javascript" tab), as published, with
# the CDN URLs pointing at the same files on this server. Changes, each marked "Benchmark":
# the Start button is pressed at once, the model's URL is absolute (the dialog gives the
# hosted model's absolute URL; speech-commands 0.5.4 loads metadata only from one), and the
# page tells the harness when the model is loaded, when it listens and what the callback got.
SNIPPET_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Teachable Machine audio snippet</title></head>
<body>
<div>Teachable Machine Audio Model</div>
<button type="button" onclick="init()">Start</button>
<div id="label-container"></div>
<script src="./tf.min.js"></script>
<script src="./speech-commands.min.js"></script>

<script type="text/javascript">
    // Benchmark: the export dialog puts the hosted model's absolute URL here.
    const URL = location.origin + "/my_model/";

    async function createModel() {
        const checkpointURL = URL + "model.json"; // model topology
        const metadataURL = URL + "metadata.json"; // model metadata

        const recognizer = speechCommands.create(
            "BROWSER_FFT", // fourier transform type, not useful to change
            undefined, // speech commands vocabulary feature, not useful for your models
            checkpointURL,
            metadataURL);

        // check that model and metadata are loaded via HTTPS requests.
        await recognizer.ensureModelLoaded();
        performance.mark("snippet:model-loaded"); // Benchmark

        return recognizer;
    }

    async function init() {
        const recognizer = await createModel();
        const classLabels = recognizer.wordLabels(); // get class labels
        const labelContainer = document.getElementById("label-container");
        for (let i = 0; i < classLabels.length; i++) {
            labelContainer.appendChild(document.createElement("div"));
        }

        const listening = recognizer.listen(result => { // Benchmark: `const listening =`
            window.__bench.snippetCallback(result, classLabels); // Benchmark
            const scores = result.scores; // probability of prediction for each class
            // render the probability scores per class
            for (let i = 0; i < classLabels.length; i++) {
                const classPrediction = classLabels[i] + ": " + result.scores[i].toFixed(2);
                labelContainer.childNodes[i].innerHTML = classPrediction;
            }
        }, {
            includeSpectrogram: true, // in case listen should return result.spectrogram
            probabilityThreshold: 0.75,
            invokeCallbackOnNoiseAndUnknown: true,
            overlapFactor: 0.50 // probably want between 0.5 and 0.75. More info in README
        });
        listening.then(() => window.__bench.snippetListening(recognizer)); // Benchmark
    }

    init(); // Benchmark: the Start button, pressed at once
</script>
</body></html>
"""

# Injected before any of the page's own code, on both sides. tmbuild: the microphone is started
# as soon as `window.tmbuild` exists (it opens once the model is ready); each window the
# microphone hands to predictSpectrogram is timed. The snippet: each firing of
# speech-commands' spectrogram callback (normalise, predict, read back, maybe the callback) is
# timed. A side's first label is the answer for its first window.
HOOK = """(() => {
  if (window !== window.top) return;
  const now = () => performance.now();
  const times = {};
  const bench = { kind: null, times, live: [], callbacks: 0, firstLabel: null };
  window.__bench = bench;
  let settle;
  bench.done = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  const timed = (run) => async (...args) => {
    const started = now();
    if (times.firstWindowDueMs === undefined) times.firstWindowDueMs = started;
    const answer = await run(...args);
    bench.live.push([started, now() - started]);
    if (times.firstAnswerMs === undefined) {
      times.firstAnswerMs = now();
      settle.resolve(times);
    }
    return answer;
  };
  addEventListener("tmbuild:classifier", (event) => {
    const classifier = event.detail;
    bench.kind = "tmbuild";
    bench.classifier = classifier;
    bench.predict = classifier.predictSpectrogram.bind(classifier);
    classifier.predictSpectrogram = timed(bench.predict);
    classifier.ready.then((info) => { times.readyMs = now(); bench.info = info; },
      (error) => settle.reject(error));
    classifier.addEventListener("result", (e) => {
      if (e.detail.source !== "microphone") return;
      bench.callbacks += 1;
      if (bench.firstLabel === null) bench.firstLabel = e.detail.result.top.label;
    });
    classifier.microphone.start().then(() => { times.listeningMs = now(); },
      (error) => settle.reject(error));
  });
  bench.snippetCallback = (result, labels) => {
    bench.callbacks += 1;
    if (times.firstCallbackMs === undefined) times.firstCallbackMs = now();
    if (bench.firstLabel === null) {
      const scores = Array.from(result.scores);
      bench.firstLabel = labels[scores.indexOf(Math.max(...scores))];
    }
  };
  bench.snippetListening = (recognizer) => {
    times.listeningMs = now();
    bench.kind = "snippet";
    bench.recognizer = recognizer;
    bench.info = { backend: tf.getBackend(), tfjs: tf.version.tfjs,
      speechCommands: speechCommands.version };
    // The first firing comes one timer interval after listen() resolves: none is missed.
    const extractor = recognizer.audioDataExtractor;
    extractor.spectrogramCallback = timed(extractor.spectrogramCallback);
  };
  setTimeout(() => settle.reject(new Error("no answer after %(timeout)d ms")), %(timeout)d);
})();"""

# Stop listening, then time one fixed window, as each side's live path runs it: tmbuild's
# predictSpectrogram (normalise, the network, the ranking); speech-commands' own normalize,
# then recognizer.recognize() (the network, the scores read back), as its listen() does.
PER_WINDOW = """async (count) => {
  const bench = window.__bench;
  let seed = 21;
  const window43 = new Float32Array(43 * 232).map((_, i) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return -90 + 50 * Math.exp(-(i % 232) / 60) + 10 * (seed / 2147483648);
  });
  let run;
  const counters = {};
  if (bench.kind === "tmbuild") {
    const microphone = bench.classifier.microphone;
    microphone.stop();
    for (const key of ["frames", "windows", "predictions", "skipped"]) {
      counters[key] = microphone[key];
    }
    run = () => bench.predict(window43);
  } else {
    counters.frames = bench.recognizer.audioDataExtractor.tracker.counter;
    await bench.recognizer.stopListening();
    run = async () => {
      const x = tf.tensor4d(window43, [1, 43, 232, 1]);
      const normalized = speechCommands.utils.normalize(x);
      try {
        await bench.recognizer.recognize(normalized);
      } finally {
        tf.dispose([x, normalized]);
      }
    };
  }
  counters.windows_answered = bench.live.length;
  counters.callbacks = bench.callbacks;
  await new Promise((resolve) => setTimeout(resolve, 200)); // a firing still running
  const times = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await run();
    times.push(performance.now() - started);
  }
  return { times, counters, live: bench.live, info: bench.info, firstLabel: bench.firstLabel,
    timesAtEnd: bench.times };
}"""


def build_snippet_site(export: Path, output: Path) -> Path:
    """The audio snippet's page, tf.min.js 3.21.0, speech-commands 0.5.4 and the export."""
    output.mkdir(parents=True)
    (output / "index.html").write_text(SNIPPET_HTML, encoding="utf-8")
    for name in RUNTIME_FILES:
        shutil.copyfile(official_speech.page_file(name), output / name)
    shutil.copytree(export, output / "my_model")
    common.precompress(output)
    # weights.bin as Teachable Machine's hosting serves it: the stored bytes (see NOTES).
    weights = output / "my_model" / "weights.bin.br"
    if weights.is_file():
        weights.rename(output / "weights.bin.br-not-served")
    return output


def kind_of_snippet(path: str) -> str:
    """The audio snippet's files by kind: its two scripts are the runtime."""
    return "runtime" if path.lstrip("/") in RUNTIME_FILES else visits.kind_of_snippet(path)
