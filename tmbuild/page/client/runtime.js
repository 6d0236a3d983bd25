/* The pinned TensorFlow.js runtime: its scripts, loaded on demand, and the choice of backend.
 * `runtime` is the `runtime` part of the page's configuration. */

import { DownloadError, NoBackendError } from "./errors.js";

const SOFTWARE_RENDERERS = /swiftshader|llvmpipe|softpipe|software|basic render/i;

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
export async function loadRoles(runtime, roles) {
  const scripts = runtime.scripts.filter((s) => roles.includes(s.role));
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

// TensorFlow.js's own SIMD probe (WASM_HAS_SIMD_SUPPORT): a module using one SIMD op.
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0,
  10, 9, 1, 7, 0, 65, 0, 253, 15, 26, 11]);

export function hasWasmSimd() {
  try {
    return WebAssembly.validate(SIMD_PROBE);
  } catch (error) { // no WebAssembly at all
    return false;
  }
}

// Preference order for `backend: auto`. Where the page carries tmbuild's kernels and the
// browser has WASM SIMD (every current engine), WASM first, whatever WebGL claims: the kernels
// beat software WebGL 6–10× and never pay WebGL's shader compilation (seconds, cold), and
// WebKit names "Apple GPU" even without one. Otherwise WebGL when hardware-accelerated, since
// a software WebGL (SwiftShader, llvmpipe) is slower than WASM; plain CPU as the last resort.
export function backendCandidates(runtime, requested) {
  if (requested !== "auto") return [requested];
  const order = [];
  if (runtime.kernels && hasWasmSimd()) {
    order.push("wasm", "webgl"); // WebGL only if the kernels and TensorFlow.js's WASM fail
  } else {
    const gl = rememberedWebglInfo();
    if (gl.available && !gl.software) order.push("webgl");
    order.push("wasm");
    if (gl.available && gl.software) order.push("webgl");
  }
  order.push("cpu");
  const hasRole = (role) => runtime.scripts.some((s) => s.role === role);
  return order.filter((name) => hasRole(name) || name === "cpu");
}

// The WASM binary is fetched only once the backend's script has run and started; when WASM
// is the first choice, fetch the binary TensorFlow.js will pick alongside the scripts.
export function preloadWasmBinary(runtime) {
  const simd = hasWasmSimd();
  const threads = runtime.wasmThreads && self.crossOriginIsolated;
  const name = simd ? (threads ? "tfjs-backend-wasm-threaded-simd.wasm"
    : "tfjs-backend-wasm-simd.wasm") : "tfjs-backend-wasm.wasm";
  const url = runtime.wasm[name];
  if (!url || url.startsWith("data:")) return;
  const link = document.createElement("link");
  link.rel = "preload";
  link.as = "fetch";
  link.crossOrigin = "anonymous"; // as TensorFlow.js's same-origin fetch asks for it
  link.href = url;
  document.head.appendChild(link);
}

// The runtime bundles each backend needs besides core and layers (WebGL falls back on CPU).
export const BACKEND_ROLES = { webgl: ["cpu", "webgl"], wasm: ["wasm"], cpu: ["cpu"] };

let wasmPathsSet = false; // tf.wasm refuses new paths once it has tried to start

async function startBackend(runtime, name) {
  await loadRoles(runtime, BACKEND_ROLES[name]);
  if (name === "wasm") {
    if (!wasmPathsSet) tf.wasm.setWasmPaths(runtime.wasm);
    wasmPathsSet = true;
    // Threads start a worker per core, each compiling the module again: measured here,
    // ~90 ms more to the first prediction for no faster predictions. Opt-in only.
    if (!runtime.wasmThreads) tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
  }
  return tf.setBackend(name);
}

// For developers' eyes (the console, an error's details), as every message of the engine.
const BACKEND_NAMES = { webgl: "WebGL", wasm: "WebAssembly", cpu: "plain JavaScript" };

// tf.setBackend only answers false; TensorFlow.js logs the cause to the console.
function whyNotStarted(name) {
  if (name === "wasm" && typeof WebAssembly !== "object") return "WebAssembly is turned off";
  if (name === "webgl" && !webglInfo().available) return "WebGL is not available";
  return "did not start, see the browser console";
}

export async function chooseBackend(runtime, candidates) {
  const tried = [];
  for (const name of candidates) {
    try {
      if (await startBackend(runtime, name)) {
        await tf.ready();
        return name;
      }
      tried.push(BACKEND_NAMES[name] + " (" + whyNotStarted(name) + ")");
    } catch (error) {
      if (error instanceof DownloadError) throw error; // the connection, not the browser
      tried.push(BACKEND_NAMES[name] + " (" + error.message + ")");
    }
  }
  throw new NoBackendError("no TensorFlow.js backend started; tried " + tried.join(", "));
}
