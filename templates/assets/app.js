/* tmbuild client: loads the pinned TensorFlow.js runtime and the model, warms it up, and
 * classifies images exactly as Teachable Machine does. Public API: window.tmbuild.
 * Configuration comes from <script type="application/json" id="tmbuild-config">.
 *
 * Loading can fail (a dropped connection, no backend that starts); the page then says why and
 * offers Retry, which loads again without reloading the page. `window.tmbuild.ready` is the
 * promise of the current attempt: it rejects when that attempt fails, and a retry
 * (the button, or `window.tmbuild.retry()`) replaces it with a new promise. Whichever attempt
 * succeeds dispatches a `tmbuild:ready` event on window, its `detail` what `ready` resolves to. */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("tmbuild-config").textContent);
  const $ = (id) => document.getElementById(id);
  const SOFTWARE_RENDERERS = /swiftshader|llvmpipe|softpipe|software|basic render/i;

  // ---- runtime loading ---------------------------------------------------------------

  // A file that did not arrive: the page says to check the connection, and Retry may help.
  class DownloadError extends Error {}
  // Every backend the page may use failed to start: the page names what it tried.
  class NoBackendError extends Error {}

  const scriptElements = new Map(); // url → <script>; a failed one is forgotten for Retry
  const scriptLoads = new Map(); // url → promise of its load

  function loadScript(script) {
    if (script.inline) {
      // A single-file page carries the runtime as text: run the parts it needs, once each.
      if (!scriptLoads.has(script.inline)) {
        const element = document.createElement("script");
        element.textContent = document.getElementById(script.inline).textContent;
        document.head.appendChild(element); // runs now, synchronously
        scriptLoads.set(script.inline, Promise.resolve());
      }
      return scriptLoads.get(script.inline);
    }
    if (!scriptLoads.has(script.url)) {
      const element = document.createElement("script");
      element.src = script.url;
      element.async = false; // the UMD bundles must run in order: they extend window.tf
      if (script.integrity) {
        element.integrity = script.integrity;
        element.crossOrigin = "anonymous";
      }
      scriptElements.set(script.url, element);
      scriptLoads.set(script.url, new Promise((resolve, reject) => {
        element.onload = resolve;
        element.onerror = () => reject(new DownloadError("could not load " + script.url));
      }));
      document.head.appendChild(element);
    }
    return scriptLoads.get(script.url);
  }

  // Bundles download in parallel and run in the order they were asked for. When one fails,
  // those asked for after it have already run without it (and thrown), so a retry must run
  // them again as well.
  async function loadRoles(roles) {
    const scripts = config.runtime.scripts.filter((s) => roles.includes(s.role));
    const results = await Promise.allSettled(scripts.map(loadScript));
    const failed = results.findIndex((result) => result.status === "rejected");
    if (failed === -1) return;
    let after = false;
    for (const [url, element] of Array.from(scriptElements)) { // in insertion order
      after = after || url === scripts[failed].url;
      if (!after) continue;
      element.remove();
      scriptElements.delete(url);
      scriptLoads.delete(url);
    }
    throw results[failed].reason;
  }

  function webglInfo() {
    const canvas = document.createElement("canvas");
    const gl = canvas.getContext("webgl2") || canvas.getContext("webgl");
    if (!gl) return { available: false, software: false, renderer: "" };
    const debug = gl.getExtension("WEBGL_debug_renderer_info");
    const renderer = debug ? String(gl.getParameter(debug.UNMASKED_RENDERER_WEBGL)) : "";
    const lose = gl.getExtension("WEBGL_lose_context");
    if (lose) lose.loseContext();
    return { available: true, software: SOFTWARE_RENDERERS.test(renderer), renderer };
  }

  function hasRole(role) {
    return config.runtime.scripts.some((s) => s.role === role);
  }

  // Preference order for `backend: auto`: WebGL only when hardware-accelerated, since a
  // software WebGL (SwiftShader, llvmpipe) is slower than WASM; plain CPU as the last resort.
  function backendCandidates(requested) {
    if (requested !== "auto") return [requested];
    const gl = webglInfo();
    const order = [];
    if (gl.available && !gl.software) order.push("webgl");
    order.push("wasm");
    if (gl.available && gl.software) order.push("webgl");
    order.push("cpu");
    return order.filter((name) => hasRole(name) || name === "cpu");
  }

  let wasmPathsSet = false; // tf.wasm refuses new paths once it has tried to start

  // TensorFlow.js's own SIMD probe (WASM_HAS_SIMD_SUPPORT): a module using one SIMD op.
  const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0,
    10, 9, 1, 7, 0, 65, 0, 253, 15, 26, 11]);

  // The WASM binary is fetched only once the backend's script has run and started; when WASM
  // is the first choice, fetch the binary TensorFlow.js will pick alongside the scripts.
  function preloadWasmBinary() {
    let simd = false;
    try {
      simd = WebAssembly.validate(SIMD_PROBE);
    } catch (error) { /* no WebAssembly: the backend will not start either */ }
    const threads = config.runtime.wasmThreads && self.crossOriginIsolated;
    const name = simd ? (threads ? "tfjs-backend-wasm-threaded-simd.wasm"
      : "tfjs-backend-wasm-simd.wasm") : "tfjs-backend-wasm.wasm";
    const url = config.runtime.wasm[name];
    if (!url || url.startsWith("data:")) return;
    const link = document.createElement("link");
    link.rel = "preload";
    link.as = "fetch";
    link.crossOrigin = "anonymous"; // as TensorFlow.js's same-origin fetch asks for it
    link.href = url;
    document.head.appendChild(link);
  }

  // The runtime bundles each backend needs besides core and layers (WebGL falls back on CPU).
  const BACKEND_ROLES = { webgl: ["cpu", "webgl"], wasm: ["wasm"], cpu: ["cpu"] };

  async function startBackend(name) {
    await loadRoles(BACKEND_ROLES[name]);
    if (name === "wasm") {
      if (!wasmPathsSet) tf.wasm.setWasmPaths(config.runtime.wasm);
      wasmPathsSet = true;
      // Threads start a worker per core, each compiling the module again: measured here,
      // ~90 ms more to the first prediction for no faster predictions. Opt-in only.
      if (!config.runtime.wasmThreads) tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
    }
    return tf.setBackend(name);
  }

  const BACKEND_NAMES = { webgl: "WebGL", wasm: "WebAssembly", cpu: "plain JavaScript" };

  // tf.setBackend only answers false; TensorFlow.js logs the cause to the console.
  function whyNotStarted(name) {
    if (name === "wasm" && typeof WebAssembly !== "object") return "WebAssembly is turned off";
    if (name === "webgl" && !webglInfo().available) return "WebGL is not available";
    return "did not start, see the browser console";
  }

  async function chooseBackend(candidates) {
    const tried = [];
    for (const name of candidates) {
      try {
        if (await startBackend(name)) {
          await tf.ready();
          return { name, tried };
        }
        tried.push(BACKEND_NAMES[name] + " (" + whyNotStarted(name) + ")");
      } catch (error) {
        if (error instanceof DownloadError) throw error; // the connection, not the browser
        tried.push(BACKEND_NAMES[name] + " (" + error.message + ")");
      }
    }
    throw new NoBackendError("no TensorFlow.js backend started; tried " + tried.join(", "));
  }

  // ---- preprocessing: identical to Teachable Machine's ---------------------------------

  const cropCanvas = document.createElement("canvas");

  function sourceSize(source) {
    if (typeof HTMLVideoElement !== "undefined" && source instanceof HTMLVideoElement) {
      return [source.videoWidth, source.videoHeight];
    }
    if (typeof HTMLImageElement !== "undefined" && source instanceof HTMLImageElement) {
      return [source.naturalWidth, source.naturalHeight];
    }
    return [source.width, source.height];
  }

  // Scale so the short side is `size`, centre the long side, draw on a size×size canvas.
  function cropToSquare(source, size, flipped) {
    let drawable = source;
    if (typeof ImageData !== "undefined" && source instanceof ImageData) {
      const scratch = document.createElement("canvas");
      scratch.width = source.width;
      scratch.height = source.height;
      scratch.getContext("2d").putImageData(source, 0, 0);
      drawable = scratch;
    }
    const [width, height] = sourceSize(source);
    const scale = size / Math.min(width, height);
    const scaledWidth = Math.ceil(width * scale);
    const scaledHeight = Math.ceil(height * scale);
    cropCanvas.width = cropCanvas.height = size;
    const context = cropCanvas.getContext("2d", { willReadFrequently: true });
    context.setTransform(1, 0, 0, 1, 0, 0);
    context.drawImage(drawable, -Math.trunc((scaledWidth - size) / 2),
      -Math.trunc((scaledHeight - size) / 2), scaledWidth, scaledHeight);
    if (flipped) {
      context.scale(-1, 1);
      context.drawImage(cropCanvas, -size, 0);
    }
    return cropCanvas;
  }

  function checkDecoded(source) {
    if (typeof HTMLImageElement !== "undefined" && source instanceof HTMLImageElement &&
        (!source.complete || source.naturalWidth === 0)) {
      throw new Error("the image is not decoded yet: wait for its load event");
    }
    if (typeof HTMLVideoElement !== "undefined" && source instanceof HTMLVideoElement &&
        (source.readyState < 2 || source.videoWidth === 0)) {
      throw new Error("the video has no frame yet");
    }
    const [width, height] = sourceSize(source);
    if (!width || !height) throw new Error("the image is empty");
  }

  // Functional ops only: the core bundle alone does not register the chained tensor methods.
  function toInput(canvas) {
    let image = tf.cast(tf.browser.fromPixels(canvas), "float32");
    if (config.model.grayscale) {
      // Teachable Machine's luma weights for its grayscale models.
      image = tf.sum(tf.mul(image, tf.tensor1d([0.2989, 0.587, 0.114])), -1, true);
    }
    return tf.expandDims(tf.sub(tf.div(image, 127), 1), 0);
  }

  // ---- the model -----------------------------------------------------------------------

  let model = null;
  let backend = null;
  const labels = config.model.labels;
  const size = config.model.imageSize;

  function rank(probabilities) {
    const predictions = labels.map((label, index) => ({ label, probability: probabilities[index] }));
    predictions.sort((a, b) => b.probability - a.probability);
    const top = predictions[0];
    const gap = top.probability - (predictions[1] ? predictions[1].probability : 0);
    const confident = top.probability >= config.classifier.threshold &&
      gap >= config.classifier.minGap;
    return { top, status: confident ? "confident" : "uncertain", predictions };
  }

  let firstPrediction = true;

  async function classify(source, options) {
    await ready;
    checkDecoded(source);
    const flipped = Boolean(options && options.flipped);
    const output = tf.tidy(() => model.predict(toInput(cropToSquare(source, size, flipped))));
    let probabilities;
    try {
      probabilities = Array.from(await output.data());
    } finally {
      output.dispose();
    }
    if (firstPrediction) {
      firstPrediction = false;
      performance.mark("tmbuild:first-prediction");
    }
    return rank(probabilities);
  }

  // ---- the model without tf-layers: the build's plan (tmbuild/plan.py) -----------------

  let halfTable = null; // float16 bits → float32, built on first use

  function float16Table() {
    if (halfTable) return halfTable;
    const bits = new Uint32Array(65536);
    halfTable = new Float32Array(bits.buffer);
    for (let half = 0; half < 65536; half++) {
      const sign = (half & 0x8000) << 16;
      const exponent = (half >> 10) & 0x1f;
      const mantissa = half & 0x3ff;
      if (exponent === 31) bits[half] = sign | 0x7f800000 | (mantissa << 13);
      else if (exponent !== 0) bits[half] = sign | ((exponent + 112) << 23) | (mantissa << 13);
      else halfTable[half] = (sign ? -1 : 1) * mantissa * 5.960464477539063e-8; // × 2^-24
    }
    return halfTable;
  }

  const STORED_BYTES = { float16: 2, uint8: 1, uint16: 2 };

  // The shards' bytes, joined in manifest order → name → {values: Float32Array, shape}.
  // Dequantised as TensorFlow.js does: float16 exactly, uint8/uint16 as level × scale + min.
  function decodeWeights(entries, buffer) {
    const weights = new Map();
    let offset = 0;
    for (const entry of entries) {
      const count = entry.shape.reduce((a, b) => a * b, 1);
      const quantization = entry.quantization;
      const width = quantization ? STORED_BYTES[quantization.dtype] : 4;
      const bytes = buffer.slice(offset, offset + count * width); // a copy, so always aligned
      offset += count * width;
      let values;
      if (!quantization) {
        values = new Float32Array(bytes);
      } else if (quantization.dtype === "float16" && typeof Float16Array === "function") {
        values = new Float32Array(new Float16Array(bytes)); // native, ~30× the loop below
      } else if (quantization.dtype === "float16") {
        const table = float16Table();
        const levels = new Uint16Array(bytes);
        values = new Float32Array(count);
        for (let i = 0; i < count; i++) values[i] = table[levels[i]];
      } else {
        const levels = width === 1 ? new Uint8Array(bytes) : new Uint16Array(bytes);
        values = new Float32Array(count);
        for (let i = 0; i < count; i++) values[i] = levels[i] * quantization.scale + quantization.min;
      }
      weights.set(entry.name, { values, shape: entry.shape });
    }
    if (offset !== buffer.byteLength) throw new DownloadError("the model's weights are incomplete");
    return weights;
  }

  // A batch norm right after a convolution is a scale and shift per output channel: folded
  // into the kernel and bias once here, one fused op then does the work of three.
  function foldBatchNorm(step, weights) {
    const kernel = weights.get(step.kernel);
    const shape = kernel.shape;
    const channels = step.op === "depthwise" ? shape[2] * shape[3] : shape[3];
    const norm = step.batchnorm;
    const bias = step.bias ? weights.get(step.bias).values : null;
    const gamma = norm.gamma ? weights.get(norm.gamma).values : null;
    const beta = norm.beta ? weights.get(norm.beta).values : null;
    const mean = weights.get(norm.mean).values;
    const variance = weights.get(norm.variance).values;
    const scale = new Float32Array(channels);
    const shift = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      scale[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + norm.epsilon);
      shift[c] = (beta ? beta[c] : 0) + ((bias ? bias[c] : 0) - mean[c]) * scale[c];
    }
    const folded = new Float32Array(kernel.values.length);
    for (let i = 0; i < folded.length; i++) folded[i] = kernel.values[i] * scale[i % channels];
    return { kernel: tf.tensor(folded, shape), bias: tf.tensor1d(shift) };
  }

  // Tensors for each step, made once; the runner then only calls ops.
  function preparePlan(plan, weights) {
    const tensors = [];
    const tensor = (name) => {
      const weight = weights.get(name);
      const made = tf.tensor(weight.values, weight.shape);
      tensors.push(made);
      return made;
    };
    const steps = plan.steps.map((step) => {
      const prepared = Object.assign({}, step);
      if (step.batchnorm) {
        const folded = foldBatchNorm(step, weights);
        tensors.push(folded.kernel, folded.bias);
        Object.assign(prepared, folded);
      } else if (step.kernel) {
        prepared.kernel = tensor(step.kernel);
        if (step.bias) prepared.bias = tensor(step.bias);
      }
      if (step.op === "batchnorm") {
        for (const key of ["gamma", "beta", "mean", "variance"]) {
          if (step[key]) prepared[key] = tensor(step[key]);
        }
      }
      if (step.op === "pad") prepared.padding = [[0, 0], ...step.padding, [0, 0]];
      return prepared;
    });
    return {
      predict: (input) => runPlan(steps, plan.output, input),
      dispose: () => tensors.forEach((t) => t.dispose()),
    };
  }

  function runStep(step, inputs) {
    const [x, y] = inputs;
    const activation = step.activation || "linear";
    switch (step.op) {
      case "conv":
        return tf.fused.conv2d({ x, filter: step.kernel, strides: step.strides, pad: step.pad,
          dilations: step.dilations, bias: step.bias, activation });
      case "depthwise":
        return tf.fused.depthwiseConv2d({ x, filter: step.kernel, strides: step.strides,
          pad: step.pad, dilations: step.dilations, bias: step.bias, activation });
      case "dense":
        return tf.fused.matMul({ a: x, b: step.kernel, bias: step.bias, activation });
      case "batchnorm":
        return tf.batchNorm(x, step.mean, step.variance, step.beta, step.gamma, step.epsilon);
      case "activation": // one of tmbuild.plan's STANDALONE_ACTIVATIONS, each a tf op
        return tf[step.activation](x);
      case "pad":
        return tf.pad(x, step.padding);
      case "add":
        return tf.add(x, y);
      case "mean":
        return tf.mean(x, [1, 2]);
      case "flatten":
        return tf.reshape(x, [x.shape[0], -1]);
      default:
        throw new Error("unknown step " + step.op);
    }
  }

  // Value 0 is the input batch; step i makes value i + 1 and frees what no later step reads.
  function runPlan(steps, output, input) {
    const values = [input];
    steps.forEach((step) => {
      values.push(runStep(step, step.in.map((index) => values[index])));
      if (step.free) step.free.forEach((index) => values[index].dispose());
    });
    return values[output];
  }

  // The shards, one after another, with progress; one buffer in manifest order.
  async function fetchShards(urls, onProgress) {
    const total = config.model.weightBytes;
    let received = 0;
    const parts = [];
    for (const url of urls) {
      let response;
      try {
        response = await fetch(url);
      } catch (error) {
        throw new DownloadError("could not load " + url + ": " + error.message);
      }
      if (!response.ok) throw new DownloadError("could not load " + url + ": HTTP " + response.status);
      const reader = response.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
        received += value.length;
        onProgress(Math.min(received / total, 1));
      }
    }
    const joined = new Uint8Array(received);
    let offset = 0;
    for (const part of parts) {
      joined.set(part, offset);
      offset += part.length;
    }
    return joined.buffer;
  }

  // With a plan, the weights need no TensorFlow.js: they download and decode while it loads.
  let weightsLoad = null;

  function startWeightsLoad() {
    if (!config.model.plan || config.model.embedded) return null;
    if (!weightsLoad) {
      weightsLoad = fetchShards(config.model.shards, (fraction) => ui.progress(fraction))
        .then((buffer) => decodeWeights(config.model.plan.weights, buffer));
      weightsLoad.catch(() => { weightsLoad = null; }); // a retry downloads them again
    }
    return weightsLoad;
  }

  async function loadModel(weights) {
    const plan = config.model.plan;
    if (config.model.embedded) {
      const embedded = JSON.parse(document.getElementById(config.model.embedded).textContent);
      const weights = await fetch("data:application/octet-stream;base64," + embedded.weightData);
      const buffer = await weights.arrayBuffer();
      if (plan) return preparePlan(plan, decodeWeights(plan.weights, buffer));
      return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: embedded.modelTopology,
        weightSpecs: embedded.weightSpecs, weightData: buffer }));
    }
    if (plan) return preparePlan(plan, await weights);
    try {
      return await tf.loadLayersModel(config.model.url, {
        onProgress: (fraction) => ui.progress(fraction),
      });
    } catch (error) {
      throw new DownloadError(error.message);
    }
  }

  // One attempt; everything it got right (scripts, the backend) is kept for the next one.
  async function load() {
    if (location.protocol === "file:" && !config.singleFile) {
      // The page's inline script has shown how to serve it; this covers templates without it.
      ui.servedOnly();
      throw new Error("this page was opened from a file; serve it over HTTP");
    }
    const started = performance.now();
    const weights = startWeightsLoad();
    // Core (and layers, for a model without a plan) download while the page picks a backend
    // (checking WebGL takes ~15 ms here); the first choice's bundles then run after them.
    const runtime = loadRoles(["core", "layers"]);
    const candidates = backend ? [] : backendCandidates(config.classifier.backend);
    if (candidates[0] === "wasm" && typeof WebAssembly === "object") preloadWasmBinary();
    await Promise.all([runtime, loadRoles(BACKEND_ROLES[candidates[0]] || [])]);
    if (!backend) {
      const chosen = await chooseBackend(candidates);
      backend = chosen.name;
      api.backend = backend;
      ui.backend(backend);
    }
    model = await loadModel(weights);
    const loadMs = performance.now() - started;
    performance.mark("tmbuild:model-loaded");
    ui.warming();
    const warmStarted = performance.now();
    const channels = config.model.grayscale ? 1 : 3;
    const warm = tf.tidy(() => model.predict(tf.zeros([1, size, size, channels])));
    await warm.data();
    warm.dispose();
    const warmupMs = performance.now() - warmStarted;
    performance.mark("tmbuild:warmed-up");
    return { backend, labels: labels.slice(), imageSize: size, loadMs, warmupMs,
      modelBytes: config.model.bytes };
  }

  // ---- the page ------------------------------------------------------------------------

  const ui = {
    loading() {
      $("load-failed").hidden = true;
      $("loading").hidden = false;
      $("loading-bar").value = 0;
      $("loading-text").textContent = "Loading model…";
    },
    progress(fraction) {
      const total = config.model.bytes / 1e6;
      $("loading-bar").value = fraction;
      $("loading-text").textContent = "Loading model… " + (fraction * total).toFixed(1) +
        " / " + total.toFixed(1) + " MB";
    },
    warming() {
      $("loading-text").textContent = "Preparing the model…";
    },
    ready() {
      $("loading").hidden = true;
      const toggle = $("webcam-toggle");
      if (toggle) toggle.disabled = false;
    },
    backend(name) {
      const element = $("backend");
      element.hidden = false;
      let text = "Running on " + ({ webgl: "WebGL (GPU)", wasm: "WebAssembly (CPU)",
        cpu: "plain JavaScript (CPU)" }[name] || name);
      if (name === "wasm" && config.classifier.backend === "auto") {
        // WebGL was missing, software-rendered or broken: WASM is the right choice, not a fault.
        text += ": no GPU acceleration on this device";
      }
      element.textContent = text + ".";
      element.classList.toggle("degraded", name !== "webgl");
      if (name === "cpu") {
        ui.notice("Neither WebGL nor WebAssembly is available: predictions will be slow.");
      }
    },
    notice(text, tone) {
      $("notice").hidden = false;
      $("notice").className = "notice" + (tone ? " " + tone : "");
      $("notice").textContent = text;
    },
    servedOnly() {
      $("loading").hidden = true;
      $("served-only").hidden = false;
    },
    failed(error) {
      $("loading").hidden = true;
      let text;
      if (error instanceof DownloadError) {
        text = "Could not download the model (" + error.message + "). Check your connection.";
      } else if (error instanceof NoBackendError) {
        text = "This browser cannot run the model: " + error.message +
          ". Retry, or open the page in another browser.";
      } else {
        text = "Could not start the classifier: " + error.message;
      }
      $("load-error").textContent = text;
      $("load-failed").hidden = location.protocol === "file:" && !config.singleFile;
    },
    error(text) {
      $("error").hidden = false;
      $("error").textContent = text;
    },
    clear() {
      $("verdict").className = "verdict";
      $("verdict").textContent = "";
      $("predictions").replaceChildren();
    },
    show(result) {
      const verdict = $("verdict");
      verdict.className = "verdict " + result.status;
      verdict.textContent = result.status === "confident" ? result.top.label
        : "Not sure (" + result.top.label + "?)";
      const list = $("predictions");
      list.replaceChildren(...result.predictions.slice(0, config.classifier.topK).map((p) => {
        const item = document.createElement("li");
        const label = document.createElement("span");
        label.className = "label";
        label.textContent = p.label;
        const meter = document.createElement("meter");
        meter.min = 0; meter.max = 1; meter.value = p.probability;
        const percent = document.createElement("span");
        percent.textContent = (p.probability * 100).toFixed(1) + "%";
        item.append(label, meter, percent);
        return item;
      }));
    },
  };

  let objectUrl = null; // of the uploaded file on show; released when the next one comes

  // Classification starts from the load event: only then is the image decoded (and turned
  // upright by its EXIF orientation, which browsers apply to <img> and to drawImage).
  function showImage(url, name) {
    const preview = $("preview");
    if (objectUrl && objectUrl !== url) URL.revokeObjectURL(objectUrl);
    objectUrl = url.startsWith("blob:") ? url : null;
    $("error").hidden = true;
    preview.hidden = false;
    preview.onload = () => classify(preview).then(ui.show, (error) => {
      if (state !== "failed") ui.error(error.message); // else the load error is on show
    });
    preview.onerror = () => {
      preview.hidden = true;
      ui.clear();
      ui.error((name ? name + " is" : "This is") + " not an image this browser can read. " +
        "Try a JPEG, PNG or WebP file.");
    };
    preview.src = url;
  }

  function showFile(file) {
    if (!file) return;
    if (file.type && !file.type.startsWith("image/")) {
      ui.error(file.name + " is not an image: choose a photo or a picture file.");
      return;
    }
    showImage(URL.createObjectURL(file), file.name);
  }

  function wireUpload() {
    const input = $("file");
    const zone = $("dropzone");
    if (!input || !zone) return;
    input.addEventListener("change", () => showFile(input.files[0]));
    zone.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        input.click();
      }
    });
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      showFile(event.dataTransfer.files[0]);
    });
    document.addEventListener("paste", (event) => {
      const item = Array.from(event.clipboardData.items).find((i) => i.type.startsWith("image/"));
      if (item) showFile(item.getAsFile());
    });
  }

  function wireSamples() {
    for (const button of document.querySelectorAll(".sample")) {
      button.addEventListener("click", () => showImage(button.dataset.src));
    }
  }

  // ---- the webcam ----------------------------------------------------------------------

  // Median prediction time above which live video stutters (under 4 predictions a second).
  const SLOW_PREDICTION_MS = 250;
  // Counters for integrators and tests: `frames` animation frames while running, `skipped`
  // while a prediction was in flight, `throttled` by max_fps.
  const webcam = { running: false, facingMode: "user", frames: 0, predictions: 0, skipped: 0,
    throttled: 0, medianMs: 0, busy: false };

  // Classify the newest frame whenever the previous prediction has finished, so a slow device
  // skips frames instead of queueing them (and their tensors).
  function wireWebcam() {
    const toggle = $("webcam-toggle");
    const switcher = $("webcam-switch");
    const video = $("webcam");
    if (!toggle) return;
    const minInterval = config.classifier.maxFps > 0 ? 1000 / config.classifier.maxFps : 0;
    let stream = null;
    let busy = false;
    let lastStart = -Infinity;
    let durations = [];
    let resumeWhenVisible = false;
    let slowWarned = false;

    const mirrored = () => config.classifier.mirrorWebcam && webcam.facingMode !== "environment";

    function record(ms) {
      durations = durations.concat(ms).slice(-15);
      const sorted = durations.slice().sort((a, b) => a - b);
      webcam.medianMs = sorted[Math.floor(sorted.length / 2)];
      if (!slowWarned && durations.length >= 5 && webcam.medianMs > SLOW_PREDICTION_MS) {
        slowWarned = true;
        ui.notice("Each prediction takes about " + Math.round(webcam.medianMs) + " ms on this " +
          "device, too slow for smooth live video: the result lags behind the camera. " +
          "Uploading photos works as well as ever.");
      }
    }

    function loop(now) {
      if (!stream) return;
      requestAnimationFrame(loop);
      webcam.frames += 1;
      if (busy) {
        webcam.skipped += 1;
        return;
      }
      if (now - lastStart < minInterval) {
        webcam.throttled += 1;
        return;
      }
      if (video.readyState < 2) return;
      busy = webcam.busy = true;
      lastStart = now;
      const started = performance.now();
      classify(video, { flipped: mirrored() }).then((result) => {
        webcam.predictions += 1;
        record(performance.now() - started);
        if (stream) ui.show(result);
      }, () => {}).finally(() => {
        busy = webcam.busy = false;
      });
    }

    function stop() {
      if (stream) stream.getTracks().forEach((track) => track.stop());
      stream = null;
      webcam.running = false;
      video.srcObject = null;
      video.hidden = true;
      if (switcher) switcher.hidden = true;
      toggle.textContent = "Start webcam";
    }

    async function begin() {
      if (!window.isSecureContext || !navigator.mediaDevices) {
        ui.error("The webcam works only on a secure page: open this site over https:// " +
          "(or from http://localhost while testing).");
        return;
      }
      try {
        stream = await navigator.mediaDevices.getUserMedia({
          audio: false, video: { facingMode: { ideal: webcam.facingMode } } });
      } catch (error) {
        stream = null;
        const denied = error.name === "NotAllowedError";
        ui.error(denied ? "Camera access was refused: allow it in the browser's site settings "
          + "and try again." : "The camera is not available: " + error.message);
        return;
      }
      const settings = stream.getVideoTracks()[0].getSettings();
      if (settings.facingMode) webcam.facingMode = settings.facingMode;
      video.classList.toggle("mirrored", mirrored());
      video.srcObject = stream;
      video.hidden = false;
      webcam.running = true;
      toggle.textContent = "Stop webcam";
      $("error").hidden = true;
      try {
        await video.play();
      } catch (error) {
        if (stream) ui.error("The camera video did not start: " + error.message);
        return;
      }
      requestAnimationFrame(loop);
      if (switcher) {
        const devices = await navigator.mediaDevices.enumerateDevices();
        switcher.hidden = devices.filter((d) => d.kind === "videoinput").length < 2;
      }
    }

    toggle.addEventListener("click", () => (stream ? stop() : begin()));
    if (switcher) {
      switcher.addEventListener("click", () => {
        webcam.facingMode = webcam.facingMode === "user" ? "environment" : "user";
        stop();
        begin();
      });
    }
    // A camera left on in a hidden tab keeps its light on and drains the battery.
    document.addEventListener("visibilitychange", () => {
      if (document.hidden && stream) {
        resumeWhenVisible = true;
        stop();
      } else if (!document.hidden && resumeWhenVisible) {
        resumeWhenVisible = false;
        begin();
      }
    });
    window.addEventListener("pagehide", stop);
  }

  // ---- offline: the service worker --------------------------------------------------------

  // Register the worker the build wrote (offline: true). It precaches the site; once it is
  // active the page says so, and when a newer build's worker is waiting, the page offers a
  // reload that hands over to it (never forced: a visitor may be in the middle of something).
  function wireOffline() {
    if (!config.offline || !("serviceWorker" in navigator)) return;
    if (location.protocol === "file:") return;
    const container = navigator.serviceWorker;
    let reloading = false;
    const offerUpdate = (worker) => {
      if (!$("update")) return; // a template without the prompt: the next visit updates
      $("update").hidden = false;
      $("update-reload").onclick = () => {
        reloading = true;
        worker.postMessage({ type: "tmbuild:activate" });
      };
    };
    container.addEventListener("controllerchange", () => {
      if (reloading) location.reload();
    });
    container.register(config.offline.worker).then((registration) => {
      if (registration.waiting && container.controller) offerUpdate(registration.waiting);
      registration.addEventListener("updatefound", () => {
        const worker = registration.installing;
        worker.addEventListener("statechange", () => {
          // With no controller this is the first install, not an update.
          if (worker.state === "installed" && container.controller) offerUpdate(worker);
        });
      });
      // Browsers look for a new worker when the page is opened; a page left open looks again
      // whenever it is shown.
      document.addEventListener("visibilitychange", () => {
        if (!document.hidden) registration.update().catch(() => {});
      });
    }, (error) => console.warn("tmbuild: the offline service worker did not start:", error));
    container.ready.then(() => {
      if ($("offline-ready")) $("offline-ready").hidden = false;
    });
  }

  let ready = null;
  let state = "loading"; // of the current attempt: loading, ready or failed

  function start() {
    ui.loading();
    state = "loading";
    ready = load();
    api.ready = ready;
    ready.then((info) => {
      state = "ready";
      ui.ready();
      window.dispatchEvent(new CustomEvent("tmbuild:ready", { detail: info }));
    }, (error) => {
      state = "failed";
      ui.failed(error);
    });
    return ready;
  }

  // A new attempt once the current one has failed; otherwise the current one.
  function retry() {
    return state === "failed" ? start() : ready;
  }

  const api = {
    ready: null,
    classify,
    retry,
    backend: null,
    webcam,
    dispose() {
      if (model) model.dispose();
      model = null;
    },
  };
  window.tmbuild = api;

  wireUpload();
  wireSamples();
  wireWebcam();
  wireOffline();
  $("retry").addEventListener("click", retry);
  start();
})();
