/* tmbuild's engine: loads a Teachable Machine image model built by tmbuild and classifies
 * images exactly as Teachable Machine does, on tmbuild's WASM kernels or on the pinned
 * TensorFlow.js runtime. It has no words for visitors and touches no element of the page.
 *
 *   import { createClassifier } from "./engine.js";
 *   const classifier = createClassifier(config);   // the page's tmbuild-config JSON
 *   classifier.addEventListener("progress", (e) => bar.value = e.detail.fraction);
 *   const info = await classifier.ready;            // {backend, runner, labels, ...}
 *   const result = await classifier.classify(img);  // {top, status, predictions}
 *                                                   // and `pose` for a pose model (pose.js)
 *   await classifier.webcam.start({ video });       // results arrive as "result" events
 *
 * Events (CustomEvent, on the classifier): loading, progress {fraction, loadedBytes,
 * totalBytes}, warming, backend {backend}, ready {info}, result {result, source}, webcam
 * {running, stream, facingMode, mirrored}, slow {medianMs}, error {during: "load" | "webcam",
 * code, error}. A page with a <script type="application/json" id="tmbuild-config"> gets its
 * classifier made and started when this module runs, as `window.tmbuild`, and a
 * `tmbuild:ready` event on window when it is ready. webcam.start({video}) classifies the
 * frames of a <video> the page shows (without one, the engine's own, never shown); stop(),
 * switchCamera(), and counters: running, frames, predictions, skipped, throttled, medianMs.
 * An audio or pose model's parts of the engine are in sound.js and pose.js (see kinds.js). */

import { FileError, FormatError } from "./errors.js";
import { KERNELS_FORMAT, fillWeights, kernelsRunner, startKernels } from "./kernels.js";
import { BACKEND_ROLES, backendCandidates, chooseBackend, hasWasmSimd, loadRoles,
  preloadWasmBinary } from "./runtime.js";
import { checkDecoded, cropToSquare, warmUpCrop } from "./image.js";
import { kindParts } from "./kinds.js";
import { preparePlan, tensorFlowRunner } from "./tfrunner.js";
import { createWebcam } from "./webcam.js";
import { decodeWeights, embeddedModel, embeddedWeights, fetchWeights } from "./weights.js";

// The version of this API; the formats of the build's plan (tmbuild.model.plan) and of the
// kernels' interface that this engine runs. A page built for other formats is refused.
export const ENGINE_API = 1;
export const PLAN_FORMAT = 4;
export { KERNELS_FORMAT };

export class Classifier extends EventTarget {
  constructor(config, options = {}) {
    super();
    // options.base: the URL the configuration's relative URLs are relative to (tmbuild.js's
    // own, for an embedded classifier); a page's configuration holds absolute paths.
    this.config = options.base ? withBase(config, options.base) : config;
    this.labels = config.model.labels.slice();
    this.backend = null;
    this.state = "idle"; // of the current attempt: loading, ready or failed
    this.error = null;
    this.progress = 0;
    this.info = null;
    this.ready = null;
    this.marks = Boolean(options.marks); // performance marks, for the page's own classifier
    this.model = null; // { classify(imageData) → probabilities, warmUp() → its ms, dispose() }
    this.onKernels = false; // the plan runs on tmbuild's kernels, without TensorFlow.js
    this.weightsLoad = null; // with a plan, the weights download while the runtime loads
    this.kernelsLoad = null;
    this.firstPrediction = true;
    this.kind = config.model.kind || "image";
    // This kind's parts (kinds.js); null in an engine bundled for another kind: load() says so.
    this.parts = kindParts(this.kind);
    this.webcam = createWebcam(this, config.classifier);
    // An audio model's: start() listens, and each window comes as a "result" event.
    const listens = this.parts && this.parts.createMicrophone;
    this.microphone = listens ? listens(this, config.audio) : null;
    // Methods that work unbound too, as the plain functions of window.tmbuild always have.
    for (const name of ["classify", "predict", "retry", "dispose", "classifyAudio"]) {
      this[name] = this[name].bind(this);
    }
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // Start loading (again, after a failure); `ready` is the promise of the current attempt.
  start() {
    this.state = "loading";
    this.error = null;
    this.progress = 0;
    this.ready = this.load();
    this.emit("loading", {});
    this.ready.then((info) => {
      this.state = "ready";
      this.info = info;
      this.emit("ready", { info });
    }, (error) => {
      this.state = "failed";
      this.error = error;
      this.emit("error", { during: "load", code: error.code || "start", error });
    });
    return this.ready;
  }

  // A new attempt once the current one has failed; otherwise the current one.
  retry() {
    return this.state === "failed" || this.state === "idle" ? this.start() : this.ready;
  }

  // Classify an <img> (decoded), <video> (playing), <canvas>, ImageBitmap or ImageData;
  // resolves to {top, status, predictions} and dispatches it as a "result" event.
  async classify(source, options) {
    const result = await this.predict(source, options);
    this.announce(result, (options && options.source) || "classify");
    return result;
  }

  async predict(source, options) {
    await (this.ready || this.start()); // a Classifier made with `new` starts on first use
    checkDecoded(source);
    const flipped = Boolean(options && options.flipped);
    if (this.parts.predict) { // a pose model's: the probabilities, and the pose beside them
      const { output, ...more } = await this.parts.predict(this, source, flipped);
      this.predicted();
      return { ...this.rank(output), ...more };
    }
    const size = this.config.model.imageSize;
    const probabilities = await this.model.classify(cropToSquare(source, size, flipped));
    this.predicted();
    return this.rank(probabilities);
  }

  // An audio model on one window of 43 spectrogram frames (232 dB values each, oldest
  // first), as the microphone and classifyAudio() give them: {top, status, predictions}.
  async predictSpectrogram(window) {
    await (this.ready || this.start());
    const probabilities = await this.model.classify(this.kindPart("normalise")(window));
    this.predicted();
    return this.rank(probabilities);
  }

  predicted() {
    if (!this.firstPrediction) return;
    this.firstPrediction = false;
    if (this.marks) performance.mark("tmbuild:first-prediction");
  }

  // A recording (File, Blob, ArrayBuffer) classified window by window, as the microphone would
  // hear it: {duration, windows: [{start, end, top, status, predictions}]} in seconds; the
  // last window comes as a "result" event with source "file".
  async classifyAudio(data) {
    await (this.ready || this.start());
    const { windows, duration } = await this.spectrograms(data);
    const timeline = [];
    for (const item of windows) {
      const result = await this.predictSpectrogram(item.window);
      timeline.push({ start: item.start, end: item.end, ...result });
    }
    if (timeline.length) this.announce(timeline[timeline.length - 1], "file");
    return { duration, windows: timeline };
  }

  // The windows the model reads for a recording, without classifying them: {duration,
  // windows: [{start, end, window}]}, each window 43 × 232 dB values, oldest frame first.
  spectrograms(data) {
    return this.kindPart("fileWindows")(data, this.config.audio.overlap);
  }

  // The square the model reads for `source`, as ImageData (the model's size, RGBA): what
  // classify() would give the model, for tools that change it first (tmbuild eval's
  // robustness checks). A pose model's: PoseNet's padded 257×257 frame, rounded to bytes.
  preprocess(source, options) {
    checkDecoded(source);
    const flipped = Boolean(options && options.flipped);
    const own = this.kindPart("preprocess", true);
    if (own) return own(this, source, flipped);
    return cropToSquare(source, this.config.model.imageSize, flipped);
  }

  // This kind's part `name` (kinds.js); one it has not (an audio method called on an image
  // model, say) or an engine bundled without the kind is an error, unless `optional`.
  kindPart(name, optional) {
    if (!this.parts) throw missingKind(this.kind);
    const part = this.parts[name];
    if (!part && !optional) throw new Error(`this ${this.kind} model has no ${name}`);
    return part;
  }

  announce(result, source) {
    this.emit("result", { result, source });
  }

  rank(probabilities) {
    const settings = this.config.classifier;
    const predictions = this.labels.map((label, index) => ({ label,
      probability: probabilities[index] }));
    predictions.sort((a, b) => b.probability - a.probability);
    const top = predictions[0];
    const gap = top.probability - (predictions[1] ? predictions[1].probability : 0);
    const confident = top.probability >= settings.threshold && gap >= settings.minGap;
    return { top, status: confident ? "confident" : "uncertain", predictions };
  }

  dispose() {
    this.webcam.stop();
    if (this.microphone) this.microphone.stop();
    if (this.model) this.model.dispose();
    this.model = null;
  }

  // One attempt; everything it got right (scripts, the backend) is kept for the next one.
  async load() {
    const config = this.config;
    checkFormats(config);
    if (!this.parts) throw missingKind(this.kind);
    if (location.protocol === "file:" && !config.singleFile) {
      throw new FileError("this page was opened from a file; serve it over HTTP");
    }
    const started = performance.now();
    const weights = this.startWeightsLoad();
    const kernels = this.startKernelsLoad();
    warmUpCrop(); // while the weights download
    // Without the kernels, core (and layers, for a model without a plan) download while the
    // engine picks a backend; the first choice's bundles then run after them. With them,
    // TensorFlow.js is only needed where the kernels cannot run.
    const runtime = kernels ? null : loadRoles(config.runtime, ["core", "layers"]);
    const candidates = this.backend ? [] : backendCandidates(config.runtime,
      config.classifier.backend);
    let runner = null;
    if (kernels && (this.onKernels || candidates[0] === "wasm")) {
      runner = await this.startKernelsRunner(kernels, weights);
      if (runner && !this.onKernels) {
        this.onKernels = true;
        this.setBackend("wasm");
      }
    }
    if (!runner) {
      runner = await this.startTensorFlow(runtime || loadRoles(config.runtime,
        ["core", "layers"]), candidates, weights);
    }
    this.model = runner;
    const loadMs = performance.now() - started;
    if (this.marks) performance.mark("tmbuild:model-loaded");
    this.emit("warming", {});
    let warmupMs = await runner.warmUp(); // on the kernels, what ran before the weights came
    // A pose model: the whole path on a blank frame too (the outputs, pose.js's loops).
    if (this.parts.warmUp) warmupMs += await this.parts.warmUp(this);
    if (this.marks) performance.mark("tmbuild:warmed-up");
    return { backend: this.backend, runner: this.onKernels ? "kernels" : "tensorflow",
      labels: this.labels.slice(), kind: this.kind, imageSize: config.model.imageSize, loadMs, warmupMs,
      modelBytes: config.model.bytes, engine: ENGINE_API };
  }

  setBackend(name) {
    this.backend = name;
    this.emit("backend", { backend: name, requested: this.config.classifier.backend });
  }

  reportProgress(fraction) {
    this.progress = fraction;
    const total = this.config.model.bytes;
    this.emit("progress", { fraction, loadedBytes: Math.round(fraction * total),
      totalBytes: total });
  }

  startWeightsLoad() {
    const model = this.config.model;
    if (!model.plan || model.embedded) return null;
    if (!this.weightsLoad) {
      this.weightsLoad = fetchWeights(model.shards, model.weightBytes, model.plan.weights,
        (fraction) => this.reportProgress(fraction));
      this.weightsLoad.catch(() => { this.weightsLoad = null; }); // a retry downloads again
    }
    return this.weightsLoad;
  }

  startKernelsLoad() {
    const config = this.config;
    if (!config.runtime.kernels || !config.model.plan || !hasWasmSimd()) return null;
    if (!this.kernelsLoad) {
      this.kernelsLoad = startKernels(config.runtime.kernels, config.model.plan, config.model);
      this.kernelsLoad.catch(() => { this.kernelsLoad = null; }); // a retry tries again
    }
    return this.kernelsLoad;
  }

  // The plan's weights, decoded: this attempt's download (started first thing), or inside
  // the page.
  async planWeights(download) {
    const model = this.config.model;
    if (!model.embedded) return download;
    return decodeWeights(model.plan.weights, await embeddedWeights(embeddedModel(model.embedded)));
  }

  // The plan on tmbuild's kernels, or null (and why, in the console) when they do not start
  // here: a browser that refuses the module falls back on TensorFlow.js's backends.
  async startKernelsRunner(kernels, download) {
    let layout;
    try {
      layout = await kernels;
    } catch (error) {
      console.warn("tmbuild: the WebAssembly kernels did not start (" + error.message +
        "); using TensorFlow.js");
      return null;
    }
    fillWeights(layout, await this.planWeights(download));
    return kernelsRunner(layout);
  }

  // TensorFlow.js core, its backend and the model.
  async startTensorFlow(runtime, candidates, download) {
    const config = this.config;
    if (candidates[0] === "wasm" && typeof WebAssembly === "object") {
      preloadWasmBinary(config.runtime);
    }
    await Promise.all([runtime, loadRoles(config.runtime, BACKEND_ROLES[candidates[0]] || [])]);
    if (!this.backend) this.setBackend(await chooseBackend(config.runtime, candidates));
    return tensorFlowRunner(await this.loadTensorFlowModel(download), config.model);
  }

  // The model on TensorFlow.js: the plan on its ops, or tf-layers and model.json.
  async loadTensorFlowModel(download) {
    const model = this.config.model;
    if (model.plan) return preparePlan(model.plan, await this.planWeights(download));
    if (model.embedded) {
      const embedded = embeddedModel(model.embedded);
      return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: embedded.modelTopology,
        weightSpecs: embedded.weightSpecs, weightData: await embeddedWeights(embedded) }));
    }
    try {
      return await tf.loadLayersModel(model.url, {
        onProgress: (fraction) => this.reportProgress(fraction),
      });
    } catch (error) {
      const failure = new Error(error.message);
      failure.code = "download";
      throw failure;
    }
  }
}

// A page built by another tmbuild may carry a plan or kernels this engine cannot run: say so
// instead of running them wrong.
function checkFormats(config) {
  const formats = config.formats || {};
  const wanted = [["plan", formats.plan, PLAN_FORMAT], ["kernels", formats.kernels,
    KERNELS_FORMAT]];
  for (const [what, built, known] of wanted) {
    if (built !== undefined && built !== known) {
      throw new FormatError("the page was built with " + what + " format " + built + " (tmbuild " +
        config.version + "); this engine runs " + what + " format " + known +
        ": rebuild the site with the tmbuild that made this engine");
    }
  }
}

// An engine bundled for another kind of model: the site's files do not belong together.
function missingKind(kind) {
  return new FormatError(`this engine has no code for ${kind} models (an engine bundled for ` +
    "another kind); rebuild the site, or load the kind's module before engine.js (kinds.js)");
}

// The configuration with every URL it holds resolved against `base`.
export function withBase(config, base) {
  const url = (value) => new URL(value, base).href;
  const model = { ...config.model, url: url(config.model.url),
    shards: config.model.shards.map(url) };
  const wasm = Object.fromEntries(Object.entries(config.runtime.wasm)
    .map(([name, value]) => [name, url(value)]));
  const scripts = config.runtime.scripts.map((script) => ({ ...script, url: url(script.url) }));
  return { ...config, model, runtime: { ...config.runtime, scripts, wasm } };
}

// A classifier for `config` (the JSON of a page's tmbuild-config block), loading at once;
// options: {base} for a configuration of relative URLs, {marks} for performance marks.
export function createClassifier(config, options) {
  const classifier = new Classifier(config, options);
  classifier.start();
  return classifier;
}

// The configuration a built page carries, or null.
export function pageConfig(root = document) {
  const element = root.getElementById("tmbuild-config");
  return element ? JSON.parse(element.textContent) : null;
}

// The page's own classifier: `window.tmbuild`, as pages, tests and `tmbuild eval` use it.
const config = typeof document === "object" ? pageConfig() : null;
if (config && !window.tmbuild) {
  const classifier = createClassifier(config, { marks: true });
  window.tmbuild = classifier;
  classifier.addEventListener("ready", (event) => {
    window.dispatchEvent(new CustomEvent("tmbuild:ready", { detail: event.detail.info }));
  });
  window.dispatchEvent(new CustomEvent("tmbuild:classifier", { detail: classifier }));
}
