"""The pages bench/pose.py measures: Teachable Machine's pose snippet as its export dialog writes
it, PoseNet's files as the snippet fetches them, and the hook injected into both sides (#22).

Kept apart from pose.py, which runs the visits and reports them: this is what runs in the
browser, and the snippet's files as their hosts would serve them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import common
import visits
from support import official_pose, official_tm

from tmbuild.model.posenet import posenet_files

RUNTIME_FILES = ("tf.min.js", "teachablemachine-pose.min.js")
# Where @teachablemachine/pose 0.8.6 asks for PoseNet (MobileNetV1 0.75, stride 16, float),
# on Google's storage; the host is left out: the page's fetch of any host's path is sent here.
POSENET_PATH = "/tfjs-models/savedmodel/posenet/mobilenet/float/075/"
POSENET_MARKER = "/posenet/mobilenet/"

# Teachable Machine's export dialog for a pose model ("Javascript" tab; the library's README
# prints the same "Sample snippet"), with the CDN URLs pointing at the same files on this
# server. Changes, each marked "Benchmark": the Start button is pressed at once, and the page
# tells the harness when the model is loaded, when the camera is open and what each frame took
# (estimatePose and predict, as the loop awaits them; the drawing after them is not timed).
SNIPPET_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Teachable Machine pose snippet</title></head>
<body>
<div>Teachable Machine Pose Model</div>
<button type="button" onclick="init()">Start</button>
<div><canvas id="canvas"></canvas></div>
<div id="label-container"></div>
<script src="./tf.min.js"></script>
<script src="./teachablemachine-pose.min.js"></script>
<script type="text/javascript">
    // More API functions here:
    // https://github.com/googlecreativelab/teachablemachine-community/tree/master/libraries/pose

    // the link to your model provided by Teachable Machine export panel
    const URL = "./my_model/";
    let model, webcam, ctx, labelContainer, maxPredictions;

    async function init() {
        const modelURL = URL + "model.json";
        const metadataURL = URL + "metadata.json";

        // load the model and metadata
        // Refer to tmImage.loadFromFiles() in the API to support files from a file picker
        // Note: the pose library adds a tmPose object to your window (window.tmPose)
        model = await tmPose.load(modelURL, metadataURL);
        maxPredictions = model.getTotalClasses();
        window.__bench.snippetLoaded(); // Benchmark

        // Convenience function to setup a webcam
        const size = 200;
        const flip = true; // whether to flip the webcam
        webcam = new tmPose.Webcam(size, size, flip); // width, height, flip
        await webcam.setup(); // request access to the webcam
        await webcam.play();
        window.__bench.snippetCamera(); // Benchmark
        window.requestAnimationFrame(loop);

        // append/get elements to the DOM
        const canvas = document.getElementById("canvas");
        canvas.width = size; canvas.height = size;
        ctx = canvas.getContext("2d");
        labelContainer = document.getElementById("label-container");
        for (let i = 0; i < maxPredictions; i++) { // and class labels
            labelContainer.appendChild(document.createElement("div"));
        }
    }

    async function loop(timestamp) {
        webcam.update(); // update the webcam frame
        await predict();
        window.requestAnimationFrame(loop);
    }

    async function predict() {
        const started = performance.now(); // Benchmark
        // Prediction #1: run input through posenet
        // estimatePose can take in an image, video or canvas html element
        const { pose, posenetOutput } = await model.estimatePose(webcam.canvas);
        // Prediction 2: run input through teachable machine classification model
        const prediction = await model.predict(posenetOutput);
        window.__bench.snippetFrame(started, prediction, pose); // Benchmark

        for (let i = 0; i < maxPredictions; i++) {
            const classPrediction =
                prediction[i].className + ": " + prediction[i].probability.toFixed(2);
            labelContainer.childNodes[i].innerHTML = classPrediction;
        }

        // finally draw the poses
        drawPose(pose);
    }

    function drawPose(pose) {
        if (webcam.canvas) {
            ctx.drawImage(webcam.canvas, 0, 0);
            // draw the keypoints and skeleton
            if (pose) {
                const minPartConfidence = 0.5;
                tmPose.drawKeypoints(pose.keypoints, minPartConfidence, ctx);
                tmPose.drawSkeleton(pose.keypoints, minPartConfidence, ctx);
            }
        }
    }

    init(); // Benchmark: the Start button, pressed at once
</script>
</body></html>
"""

# Injected before any of the page's own code, on both sides. Each frame's estimate and
# prediction is timed: tmbuild's classifier.predict (which the webcam loop calls: the frame,
# PoseNet, the pose, the head) and the snippet's estimatePose + predict. tmbuild's webcam is
# started by a click on the page's own button as soon as it is enabled (when the model is
# ready), as a visitor would; the snippet opens its camera itself once its model is loaded.
# On the snippet's side, the page's fetches of PoseNet (Google's storage) go to `posenet`, a
# second loopback server: through Chromium's network stack, so they are throttled as any other
# request (a Playwright route is answered past DevTools' network throttling).
HOOK = """(() => {
  if (window !== window.top) return;
  const now = () => performance.now();
  const times = {};
  const bench = { kind: null, times, frames: [], firstLabel: null, posed: null, info: null };
  window.__bench = bench;
  let settle;
  bench.done = new Promise((resolve, reject) => { settle = { resolve, reject }; });
  const frame = (started, label, posed) => {
    const ended = now();
    bench.frames.push([started, ended - started]);
    if (times.firstPredictionMs !== undefined) return;
    times.firstPredictionMs = ended;
    bench.firstLabel = label;
    bench.posed = posed;
    settle.resolve(times);
  };
  const posenet = %(posenet)s;
  if (posenet) {
    const original = window.fetch;
    const URL = window.URL; // the snippet's own global `URL` (its model's) hides the class
    window.fetch = function (input, init) {
      const url = new URL(typeof input === "string" ? input : input.url, location.href);
      if (url.pathname.includes(%(marker)s)) input = posenet + url.pathname;
      return original.call(this, input, init);
    };
  }
  const enabled = () => new Promise((resolve) => {
    const look = () => {
      const button = document.querySelector("tm-webcam .tm-webcam-toggle");
      if (button && !button.disabled) resolve(button); else setTimeout(look, 5);
    };
    look();
  });
  addEventListener("tmbuild:classifier", (event) => {
    const classifier = event.detail;
    bench.kind = "tmbuild";
    const predict = classifier.predict;
    classifier.predict = async (source, options) => {
      const started = now();
      const result = await predict(source, options);
      frame(started, result.top.label, Boolean(result.pose));
      return result;
    };
    classifier.addEventListener("webcam", (e) => {
      if (e.detail.running && times.cameraMs === undefined) times.cameraMs = now();
    });
    classifier.addEventListener("result", (e) => {
      if (e.detail.source === "webcam" && times.firstResultMs === undefined) {
        times.firstResultMs = now();
      }
    });
    classifier.ready.then(async (info) => {
      times.readyMs = now();
      bench.info = info;
      (await enabled()).click();
    }, (error) => settle.reject(error));
  });
  bench.snippetLoaded = () => {
    performance.mark("snippet:model-loaded");
    bench.kind = "snippet";
    bench.info = { backend: tf.getBackend(), tfjs: tf.version.tfjs, pose: tmPose.version };
  };
  bench.snippetCamera = () => { times.cameraMs = now(); };
  bench.snippetFrame = (started, prediction, pose) => {
    const top = prediction.reduce((a, b) => (b.probability > a.probability ? b : a));
    frame(started, top.className, Boolean(pose));
  };
  setTimeout(() => settle.reject(new Error("no prediction after %(timeout)d ms")), %(timeout)d);
})();"""

# The frames timed so far, once `count` have been (or the time is up).
FRAMES = """async ([count, timeout]) => {
  const bench = window.__bench;
  const until = performance.now() + timeout;
  while (bench.frames.length < count && performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { frames: bench.frames.slice(), info: bench.info, firstLabel: bench.firstLabel,
    posed: bench.posed, times: bench.times };
}"""


def hook(posenet: str | None, timeout_ms: int) -> str:
    """The init script; `posenet`: the PoseNet server's origin (the snippet's side)."""
    values = {"posenet": json.dumps(posenet), "marker": json.dumps(POSENET_MARKER)}
    return HOOK % {**values, "timeout": timeout_ms}


def build_snippet_site(export: Path, output: Path) -> Path:
    """The pose snippet's page, tf.min.js 1.3.1, @teachablemachine/pose 0.8.6 and the export."""
    output.mkdir(parents=True)
    (output / "index.html").write_text(SNIPPET_HTML, encoding="utf-8")
    (output / "tf.min.js").write_bytes(official_tm.member(official_pose.TFJS, "dist/tf.min.js"))
    library = official_tm.member(official_pose.TM_POSE, "dist/teachablemachine-pose.min.js")
    (output / "teachablemachine-pose.min.js").write_bytes(library)
    shutil.copytree(export, output / "my_model")
    common.precompress(output)
    # weights.bin as Teachable Machine's hosting (a storage bucket) serves it: as stored.
    _not_served(output / "my_model" / "weights.bin.br")
    return output


def build_posenet_site(output: Path) -> Path:
    """PoseNet's graph model and weights, as Google's storage serves them to the snippet.

    The pinned network of tmbuild.model.posenet, its fused convolutions written as the plain
    ops TensorFlow.js 1.3.1 reads (tests/support/official_pose.py), the same weights' bytes.
    Served as stored (no Content-Encoding) and to any origin (CORS), as that bucket does; the
    size a Brotli copy would have had is kept beside each file, not served.
    """
    folder = output / POSENET_PATH.strip("/")
    folder.mkdir(parents=True)
    files = posenet_files()
    weights = official_pose.POSENET_WEIGHTS
    graph = official_pose.unfused_graph(files.graph_model_json(weights), weights)
    (folder / "model-stride16.json").write_bytes(graph)
    (folder / weights).write_bytes(files.weights)
    (output / "_headers").write_text("/*\n  Access-Control-Allow-Origin: *\n", encoding="utf-8")
    common.precompress(output)
    for sibling in folder.glob("*.br"):
        _not_served(sibling)
    return output


def _not_served(path: Path) -> None:
    if path.is_file():
        path.rename(path.with_name(path.name[: -len(".br")] + ".br-not-served"))


def kind_of_snippet(path: str) -> str:
    """The pose snippet's files by kind: its two scripts are the runtime, PoseNet a model."""
    if POSENET_MARKER in path:
        return "posenet"
    return "runtime" if path.lstrip("/") in RUNTIME_FILES else visits.kind_of_snippet(path)
