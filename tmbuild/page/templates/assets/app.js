/* tmbuild client: loads the model and runs it on tmbuild's WASM kernels or on the pinned
 * TensorFlow.js runtime, warms it up, and classifies images exactly as Teachable Machine
 * does. Public API: window.tmbuild.
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

  // Checking WebGL creates a context: ~20–40 ms with a software renderer here, on the page's
  // thread. The answer is kept per browser (its user agent), so a returning visitor skips it.
  const WEBGL_KEY = "tmbuild:webgl";

  function rememberedWebglInfo() {
    try {
      const saved = JSON.parse(localStorage.getItem(WEBGL_KEY));
      if (saved && saved.browser === navigator.userAgent) return saved.info;
    } catch (error) { /* storage turned off or unreadable: check again */ }
    const info = webglInfo();
    try {
      localStorage.setItem(WEBGL_KEY, JSON.stringify({ browser: navigator.userAgent, info }));
    } catch (error) { /* storage turned off or full: nothing to keep */ }
    return info;
  }

  function hasRole(role) {
    return config.runtime.scripts.some((s) => s.role === role);
  }

  // Preference order for `backend: auto`: WebGL only when hardware-accelerated, since a
  // software WebGL (SwiftShader, llvmpipe) is slower than WASM; plain CPU as the last resort.
  function backendCandidates(requested) {
    if (requested !== "auto") return [requested];
    const gl = rememberedWebglInfo();
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
  function hasWasmSimd() {
    try {
      return WebAssembly.validate(SIMD_PROBE);
    } catch (error) { // no WebAssembly at all
      return false;
    }
  }

  function preloadWasmBinary() {
    const simd = hasWasmSimd();
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

  // { classify(canvas) → probabilities, warmUp() → its ms, dispose() }
  let model = null;
  let backend = null;
  let onKernels = false; // the plan runs on tmbuild's kernels, without TensorFlow.js
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
    const probabilities = await model.classify(cropToSquare(source, size, flipped));
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
      const count = elements(entry.shape);
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

  // A batch norm (names of its weights, and epsilon) as y = x · scale + shift per channel,
  // after a bias it follows, if any.
  function normScaleShift(norm, weights, channels, bias) {
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
    return { scale, shift };
  }

  // A batch norm right after a convolution is a scale and shift per output channel: folded
  // into the kernel and bias once here, one fused op then does the work of three.
  function foldBatchNorm(step, weights) {
    const kernel = weights.get(step.kernel);
    const shape = kernel.shape;
    const channels = step.op === "depthwise" ? shape[2] * shape[3] : shape[3];
    const bias = step.bias ? weights.get(step.bias).values : null;
    const { scale, shift } = normScaleShift(step.batchnorm, weights, channels, bias);
    const folded = new Float32Array(kernel.values.length);
    for (let i = 0; i < folded.length; i++) folded[i] = kernel.values[i] * scale[i % channels];
    return { kernel: { values: folded, shape }, bias: { values: shift, shape: [channels] } };
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
        prepared.kernel = tf.tensor(folded.kernel.values, folded.kernel.shape);
        prepared.bias = tf.tensor(folded.bias.values, folded.bias.shape);
        tensors.push(prepared.kernel, prepared.bias);
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

  // ---- the plan on tmbuild's own WebAssembly kernels (tmbuild/wasm/kernels.c) ---------

  // The kernels apply these as they store; the page applies the plan's others afterwards.
  const KERNEL_ACTIVATIONS = { linear: 0, relu: 1, relu6: 2 };
  const ELEMENTWISE = {
    linear: (v) => v,
    relu: (v) => Math.max(v, 0),
    relu6: (v) => Math.min(Math.max(v, 0), 6),
    sigmoid: (v) => 1 / (1 + Math.exp(-v)),
    elu: (v) => (v > 0 ? v : Math.exp(v) - 1),
    tanh: Math.tanh,
  };

  let kernelsLoad = null;

  // The module (carried in the page) with the plan laid out in its memory and primed, while
  // the weights download; null where the page cannot use it. Compiled on this thread: 9 kB
  // take ~1 ms, where an asynchronous compile waited for a busy worker thread.
  function startKernelsLoad() {
    if (!config.runtime.kernels || !config.model.plan || !hasWasmSimd()) return null;
    if (!kernelsLoad) {
      kernelsLoad = (async () => {
        const text = atob(config.runtime.kernels);
        const bytes = new Uint8Array(text.length);
        for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
        let instance;
        try {
          instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), {});
        } catch (error) {
          // Chromium before 2023 (and Android WebViews built on it) compiles nothing over
          // 4 kB on the page's thread.
          if (!(error instanceof RangeError)) throw error;
          instance = (await WebAssembly.instantiate(bytes, {})).instance;
        }
        const layout = layOutPlan(config.model.plan, instance.exports);
        primeKernels(layout);
        // The warm-up: an image's whole path before the weights arrive, since what the values
        // are does not matter to how long the kernels take. The first image then takes the
        // optimised code at once and costs the visitor no warm-up after the download.
        const warmStarted = performance.now();
        runLayout(layout, null);
        layout.warmupMs = performance.now() - warmStarted;
        return layout;
      })();
      kernelsLoad.catch(() => { kernelsLoad = null; }); // a retry tries again
    }
    return kernelsLoad;
  }

  // V8 first runs a module on its baseline compiler and optimises each function once it has
  // run a while: the first pass of the plan took ~20 ms, later ones ~5. Running every kernel
  // on the still empty memory while the weights download gets them optimised before they count.
  function primeKernels(layout) {
    const kernels = layout.kernels;
    const side = 32;
    const count = side * side * side; // a 32×32 image with 32 channels
    const [a, b, c, out] = [0, 1, 2, 3].map((n) => layout.base + n * (count + 8) * 4);
    for (let pass = 0; pass < 2; pass++) {
      kernels.gemm(a, side * side, side, b, c, side, out, 2);
      kernels.conv(a, side, side, 3, b, 3, 3, 2, 2, 1, 1, 0, 0, side / 2 - 1, side / 2 - 1, c,
        side, out, 2);
      kernels.depthwise(a, side, side, side, b, 3, 3, 1, 1, 1, 1, 1, 1, side, side, c, out, 2);
      kernels.zero_pad(a, side - 1, side - 1, side, 0, 1, 0, 1, out);
      kernels.add(a, b, count, out);
      kernels.mean(a, side * side, side, out);
      kernels.scale_shift(a, side * side, side, b, c, out);
    }
  }

  const PRIMING_BYTES = 4 * (32 * 32 * 32 + 8) * 4; // primeKernels' four buffers

  // Output size and padding before, as TensorFlow.js computes them for "same" and "valid".
  function convWindow(inputSize, kernelSize, stride, dilation, pad) {
    const span = (kernelSize - 1) * dilation + 1;
    if (pad === "valid") return { size: Math.ceil((inputSize - span + 1) / stride), before: 0 };
    const size = Math.ceil(inputSize / stride);
    return { size, before: Math.floor(Math.max((size - 1) * stride + span - inputSize, 0) / 2) };
  }

  const elements = (shape) => shape.reduce((a, b) => a * b, 1);

  // f, remembering its last answer: a folded kernel and its bias come from one computation.
  function lastOf(f) {
    let argument = null;
    let answer = null;
    return (value) => {
      if (value !== argument) {
        argument = value;
        answer = f(value);
      }
      return answer;
    };
  }

  // Every step becomes one call into the module at fixed addresses, from the plan alone (the
  // weights' shapes are in it), so this runs while the weights download: room for each weight
  // (filled by fillWeights), and for each value, in the smallest freed buffer it fits in.
  function layOutPlan(plan, kernels) {
    const base = Math.ceil(kernels.__heap_base.value / 16) * 16;
    let end = base;
    // Every buffer 16-byte aligned, with 8 floats of room after it: kernels.c may read (never
    // write) up to 7 floats past a kernel row or a bias.
    const reserve = (count) => {
      const address = end;
      end += Math.ceil((count + 8) / 4) * 16;
      return { address, count };
    };
    const fills = []; // [address, (weights) → Float32Array]
    const constant = (count, fill) => {
      const { address } = reserve(count);
      fills.push([address, fill]);
      return address;
    };
    const spare = []; // freed value buffers, {address, count}
    const allocate = (count) => {
      let best = -1;
      spare.forEach((buffer, index) => {
        if (buffer.count >= count && (best < 0 || buffer.count < spare[best].count)) best = index;
      });
      return best < 0 ? reserve(count) : spare.splice(best, 1)[0];
    };
    const shapeOf = new Map(plan.weights.map((entry) => [entry.name, entry.shape]));
    const valuesOf = (weights, name) => weights.get(name).values;
    const zeros = (count) => () => new Float32Array(count);

    const channels = config.model.grayscale ? 1 : 3;
    const rgba = reserve(size * size).address; // the canvas's bytes, 4 to a pixel
    const shapes = [[size, size, channels]];
    const buffers = [allocate(elements(shapes[0]))];
    const calls = [];
    // A zero padding that only the convolution after it reads is left to that convolution:
    // the kernels skip the taps outside the image, so the padded copy is never made. MobileNet
    // pads five times before a stride-2 convolution: 10 → 6.9 MB of memory to lay out and
    // touch, 4.6 → 4.4 ms a prediction here (brands6, medians of 150).
    const readers = new Map(); // value → the number of steps that read it
    for (const step of plan.steps) {
      for (const index of step.in) readers.set(index, (readers.get(index) || 0) + 1);
    }
    let padding = null; // of the pad step just skipped: {source, top, bottom, left, right, free}
    plan.steps.forEach((step, index) => {
      const next = plan.steps[index + 1];
      if (step.op === "pad" && next && (next.op === "conv" || next.op === "depthwise") &&
          next.in[0] === shapes.length && readers.get(shapes.length) === 1) {
        const [[top, bottom], [left, right]] = step.padding;
        padding = { source: step.in[0], top, bottom, left, right, free: step.free || [] };
        shapes.push(null); // never read: the next step reads the source
        buffers.push(null);
        return;
      }
      const padded = padding; // set only when this step reads the skipped pad's value
      padding = null;
      const source = padded ? padded.source : step.in[0];
      const input = shapes[source];
      const x = buffers[source].address;
      const activation = step.activation || "linear";
      const fused = KERNEL_ACTIVATIONS[activation] || 0;
      let shape;
      let call; // (output address) → the call
      if (step.op === "conv" || step.op === "depthwise") {
        const kernelShape = shapeOf.get(step.kernel);
        const [kernelH, kernelW, inChannels, last] = kernelShape;
        const outChannels = step.op === "depthwise" ? inChannels * last : last;
        // uint8 models keep their batch norms: folded here, once the weights are in.
        const folded = step.batchnorm ? lastOf((weights) => foldBatchNorm(step, weights)) : null;
        const k = constant(elements(kernelShape), folded ? (w) => folded(w).kernel.values
          : (w) => valuesOf(w, step.kernel));
        const b = constant(outChannels, folded ? (w) => folded(w).bias.values
          : step.bias ? (w) => valuesOf(w, step.bias) : zeros(outChannels));
        const [height, width] = input;
        const [top, bottom, left, right] = padded
          ? [padded.top, padded.bottom, padded.left, padded.right] : [0, 0, 0, 0];
        const rows = convWindow(height + top + bottom, kernelH, step.strides[0],
          step.dilations[0], step.pad);
        const cols = convWindow(width + left + right, kernelW, step.strides[1],
          step.dilations[1], step.pad);
        rows.before += top;
        cols.before += left;
        shape = [rows.size, cols.size, outChannels];
        const pointwise = kernelH === 1 && kernelW === 1 && step.strides[0] === 1 &&
          step.strides[1] === 1;
        if (step.op === "depthwise") {
          call = (out) => () => kernels.depthwise(x, height, width, inChannels, k, kernelH,
            kernelW, step.strides[0], step.strides[1], step.dilations[0], step.dilations[1],
            rows.before, cols.before, rows.size, cols.size, b, out, fused);
        } else if (pointwise) {
          call = (out) => () => kernels.gemm(x, height * width, inChannels, k, b, outChannels,
            out, fused);
        } else {
          call = (out) => () => kernels.conv(x, height, width, inChannels, k, kernelH, kernelW,
            step.strides[0], step.strides[1], step.dilations[0], step.dilations[1],
            rows.before, cols.before, rows.size, cols.size, b, outChannels, out, fused);
        }
      } else if (step.op === "dense") {
        const [depth, units] = shapeOf.get(step.kernel);
        shape = [...input.slice(0, -1), units];
        const k = constant(depth * units, (w) => valuesOf(w, step.kernel));
        const b = constant(units, step.bias ? (w) => valuesOf(w, step.bias) : zeros(units));
        call = (out) => () => kernels.gemm(x, elements(input) / depth, depth, k, b, units, out,
          fused);
      } else if (step.op === "batchnorm") {
        const count = input[input.length - 1];
        const norm = lastOf((weights) => normScaleShift(step, weights, count, null));
        shape = input;
        const s = constant(count, (w) => norm(w).scale);
        const t = constant(count, (w) => norm(w).shift);
        call = (out) => () => kernels.scale_shift(x, elements(input) / count, count, s, t, out);
      } else if (step.op === "pad") {
        const [[top, bottom], [left, right]] = step.padding;
        shape = [input[0] + top + bottom, input[1] + left + right, input[2]];
        call = (out) => () => kernels.zero_pad(x, input[0], input[1], input[2], top, bottom, left,
          right, out);
      } else if (step.op === "add") {
        const y = buffers[step.in[1]].address;
        shape = input;
        call = (out) => () => kernels.add(x, y, elements(input), out);
      } else if (step.op === "mean") {
        shape = [input[2]];
        call = (out) => () => kernels.mean(x, input[0] * input[1], input[2], out);
      } else if (step.op === "flatten" || step.op === "activation") {
        shape = step.op === "flatten" ? [elements(input)] : input;
        const count = elements(input);
        call = (out) => () => new Float32Array(kernels.memory.buffer)
          .copyWithin(out / 4, x / 4, x / 4 + count);
      } else {
        throw new Error("unknown step " + step.op);
      }
      const buffer = allocate(elements(shape));
      const out = buffer.address;
      const run = call(out);
      const count = elements(shape);
      const after = activation === "softmax" ? (values) => softmax(values, shape[shape.length - 1])
        : activation in KERNEL_ACTIVATIONS && step.op !== "activation" ? null
          : elementwise(ELEMENTWISE[activation]);
      calls.push(after ? () => {
        run();
        after(new Float32Array(kernels.memory.buffer, out, count));
      } : run);
      shapes.push(shape);
      buffers.push(buffer);
      for (const freed of [...(step.free || []), ...(padded ? padded.free : [])]) {
        if (buffers[freed]) spare.push(buffers[freed]);
      }
    });
    // Grown once, and every page touched now: a fresh page costs a fault on first write,
    // which would otherwise land in copying the weights in, after the download.
    end = Math.max(end, base + PRIMING_BYTES);
    const pages = Math.ceil((end - kernels.memory.buffer.byteLength) / 65536);
    if (pages > 0) kernels.memory.grow(pages);
    new Uint8Array(kernels.memory.buffer, base, end - base).fill(0);
    return {
      kernels, base, fills, calls, rgba, grayscale: config.model.grayscale ? 1 : 0,
      warmupMs: 0,
      input: { address: buffers[0].address, count: elements(shapes[0]) },
      output: { address: buffers[plan.output].address, count: elements(shapes[plan.output]) },
    };
  }

  function fillWeights(layout, weights) {
    const memory = new Float32Array(layout.kernels.memory.buffer);
    for (const [address, fill] of layout.fills) memory.set(fill(weights), address / 4);
  }

  // An image's whole path: its RGBA bytes (none: those already in place) through kernels.c
  // `pixels`, Teachable Machine's preprocessing in float32 as TensorFlow.js computes it, and
  // the plan's calls.
  function runLayout(layout, rgba) {
    const kernels = layout.kernels;
    if (rgba) new Uint8Array(kernels.memory.buffer, layout.rgba, rgba.length).set(rgba);
    kernels.pixels(layout.rgba, size * size, layout.input.address, layout.grayscale);
    for (const call of layout.calls) call();
    return Array.from(new Float32Array(kernels.memory.buffer, layout.output.address,
      layout.output.count));
  }

  function elementwise(apply) {
    return (values) => {
      for (let i = 0; i < values.length; i++) values[i] = apply(values[i]);
    };
  }

  // Over the last axis, as tf.softmax: exponentials of the differences from the maximum.
  function softmax(values, width) {
    for (let start = 0; start < values.length; start += width) {
      const row = values.subarray(start, start + width);
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      let sum = 0;
      for (let i = 0; i < width; i++) {
        row[i] = Math.exp(row[i] - max);
        sum += row[i];
      }
      for (let i = 0; i < width; i++) row[i] /= sum;
    }
  }

  function kernelsRunner(layout) {
    return {
      classify: async (canvas) => {
        const context = canvas.getContext("2d", { willReadFrequently: true });
        return runLayout(layout, context.getImageData(0, 0, size, size).data);
      },
      warmUp: async () => layout.warmupMs, // done while the weights downloaded
      dispose() {},
    };
  }

  function embeddedModel() {
    return JSON.parse(document.getElementById(config.model.embedded).textContent);
  }

  async function embeddedWeights(embedded) {
    const response = await fetch("data:application/octet-stream;base64," + embedded.weightData);
    return response.arrayBuffer();
  }

  // The plan's weights, decoded: this attempt's download (started first thing), or inside
  // the page.
  async function planWeights(download) {
    if (!config.model.embedded) return download;
    return decodeWeights(config.model.plan.weights, await embeddedWeights(embeddedModel()));
  }

  // The model on TensorFlow.js: the plan on its ops, or tf-layers and model.json.
  async function loadTensorFlowModel(download) {
    const plan = config.model.plan;
    if (plan) return preparePlan(plan, await planWeights(download));
    if (config.model.embedded) {
      const embedded = embeddedModel();
      return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: embedded.modelTopology,
        weightSpecs: embedded.weightSpecs, weightData: await embeddedWeights(embedded) }));
    }
    try {
      return await tf.loadLayersModel(config.model.url, {
        onProgress: (fraction) => ui.progress(fraction),
      });
    } catch (error) {
      throw new DownloadError(error.message);
    }
  }

  function tensorFlowRunner(layers) {
    const channels = config.model.grayscale ? 1 : 3;
    return {
      async classify(canvas) {
        const output = tf.tidy(() => layers.predict(toInput(canvas)));
        try {
          return Array.from(await output.data());
        } finally {
          output.dispose();
        }
      },
      async warmUp() {
        const started = performance.now();
        const warm = tf.tidy(() => layers.predict(tf.zeros([1, size, size, channels])));
        await warm.data();
        warm.dispose();
        return performance.now() - started;
      },
      dispose: () => layers.dispose(),
    };
  }

  // The plan on tmbuild's kernels, or null (and why, in the console) when they do not start
  // here: a browser that refuses the module falls back on TensorFlow.js's backends.
  async function startKernelsRunner(kernels, download) {
    let layout;
    try {
      layout = await kernels;
    } catch (error) {
      console.warn("tmbuild: the WebAssembly kernels did not start (" + error.message +
        "); using TensorFlow.js");
      return null;
    }
    fillWeights(layout, await planWeights(download));
    return kernelsRunner(layout);
  }

  // TensorFlow.js core, its backend and the model.
  async function startTensorFlow(runtime, candidates, download) {
    if (candidates[0] === "wasm" && typeof WebAssembly === "object") preloadWasmBinary();
    await Promise.all([runtime, loadRoles(BACKEND_ROLES[candidates[0]] || [])]);
    if (!backend) {
      const chosen = await chooseBackend(candidates);
      backend = chosen.name;
      api.backend = backend;
      ui.backend(backend);
    }
    return tensorFlowRunner(await loadTensorFlowModel(download));
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
    const kernels = startKernelsLoad();
    // Without the kernels, core (and layers, for a model without a plan) download while the
    // page picks a backend (checking WebGL takes ~10 ms here); the first choice's bundles then
    // run after them. With them, TensorFlow.js is only needed where the page takes WebGL.
    const runtime = kernels ? null : loadRoles(["core", "layers"]);
    const candidates = backend ? [] : backendCandidates(config.classifier.backend);
    let runner = null;
    if (kernels && (onKernels || candidates[0] === "wasm")) {
      runner = await startKernelsRunner(kernels, weights);
      if (runner && !onKernels) {
        onKernels = true;
        backend = "wasm";
        api.backend = backend;
        ui.backend(backend);
      }
    }
    if (!runner) {
      runner = await startTensorFlow(runtime || loadRoles(["core", "layers"]), candidates,
        weights);
    }
    model = runner;
    const loadMs = performance.now() - started;
    performance.mark("tmbuild:model-loaded");
    ui.warming();
    const warmupMs = await model.warmUp(); // on the kernels, what ran before the weights came
    performance.mark("tmbuild:warmed-up");
    return { backend, runner: onKernels ? "kernels" : "tensorflow", labels: labels.slice(),
      imageSize: size, loadMs, warmupMs, modelBytes: config.model.bytes };
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

  // The sample thumbnails load once the model has (or has failed to): on a first visit their
  // downloads and decodes kept the page's thread from the weights, ~80 ms later to the first
  // prediction on the example site (no WebGL, 14 alternating runs). A template whose images
  // carry their own src keeps it.
  function showSampleThumbnails() {
    for (const button of document.querySelectorAll(".sample")) {
      const image = button.querySelector("img:not([src])");
      if (image) image.src = button.dataset.src;
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
  start().then(showSampleThumbnails, showSampleThumbnails);
})();
