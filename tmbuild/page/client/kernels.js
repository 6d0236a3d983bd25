/* The plan on tmbuild's own WebAssembly kernels (tmbuild/model/wasm/kernels.c): every step
 * laid out once at fixed addresses in the module's memory, then one call per step. */

import { elements, foldBatchNorm, normScaleShift } from "./weights.js";

// The interface of kernels.c this file calls (its exports and their arguments); a page built
// by a tmbuild with other kernels says so in its configuration, and the engine refuses it.
export const KERNELS_FORMAT = 3; // 2: max_pool, for audio models; 3: pixels' divisor, offset

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
    kernels.max_pool(a, side, side, side, 2, 2, 2, 2, side / 2, side / 2, out);
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
export function layOutPlan(plan, kernels, model) {
  // A plan's own `input` (PoseNet's frame, x / 127.5 - 1) or, without one, Teachable Machine's:
  // a spectrogram for an audio model, an imageSize square / 127 - 1 for an image model.
  const frame = plan.input || null;
  const audio = !frame && model.kind === "audio";
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

  const channels = model.grayscale ? 1 : 3;
  // An audio model reads one normalised spectrogram: 43 frames × 232 bins.
  const shapes = [frame ? frame.shape : audio ? [43, 232, 1]
    : [model.imageSize, model.imageSize, channels]];
  const pixelCount = audio ? 0 : shapes[0][0] * shapes[0][1];
  const rgba = audio ? null : reserve(pixelCount).address; // the canvas's bytes, 4 a pixel
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
    } else if (step.op === "concat") { // on the channel axis, in the order of `in`
      const parts = step.in.map((index) => ({ at: buffers[index].address / 4,
        width: shapes[index][shapes[index].length - 1] }));
      const width = parts.reduce((sum, part) => sum + part.width, 0);
      const pixels = elements(input) / parts[0].width;
      shape = [...input.slice(0, -1), width];
      call = (out) => () => concat(new Float32Array(kernels.memory.buffer), parts, pixels,
        width, out / 4);
    } else if (step.op === "add") {
      const y = buffers[step.in[1]].address;
      shape = input;
      call = (out) => () => kernels.add(x, y, elements(input), out);
    } else if (step.op === "maxpool") { // tmbuild.model.kernels refuses "same" padding
      const [poolH, poolW] = step.pool;
      const rows = convWindow(input[0], poolH, step.strides[0], 1, "valid").size;
      const cols = convWindow(input[1], poolW, step.strides[1], 1, "valid").size;
      shape = [rows, cols, input[2]];
      call = (out) => () => kernels.max_pool(x, input[0], input[1], input[2], poolH, poolW,
        step.strides[0], step.strides[1], rows, cols, out);
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
  const value = (index) => ({ address: buffers[index].address, count: elements(shapes[index]),
    shape: shapes[index] });
  return {
    kernels, base, fills, calls, rgba, pixelCount,
    grayscale: (frame ? shapes[0][2] === 1 : model.grayscale) ? 1 : 0,
    divisor: frame ? frame.divisor : 127, offset: frame ? frame.offset : -1,
    warmupMs: 0,
    input: value(0),
    output: value(plan.output),
    // The plan's other values the page reads (a pose plan's features and displacements): no
    // step frees them, so their buffers still hold them after the last call.
    outputs: Object.entries(plan.outputs || {}).map(([name, index]) => [name, value(index)]),
  };
}

// Per pixel, each part's channels after the one before. PoseNet's (17×17 positions, 17 + 34
// channels) took 0.1 ms in Chromium here, warm: too little beside its convolutions to want an
// export of kernels.c.
function concat(memory, parts, pixels, width, out) {
  for (let p = 0; p < pixels; p++) {
    let at = out + p * width;
    for (const part of parts) {
      const from = part.at + p * part.width;
      memory.copyWithin(at, from, from + part.width);
      at += part.width;
    }
  }
}

export function fillWeights(layout, weights) {
  const memory = new Float32Array(layout.kernels.memory.buffer);
  for (const [address, fill] of layout.fills) memory.set(fill(weights), address / 4);
}

// An image's whole path: its RGBA bytes (none: those already in place) through kernels.c
// `pixels`, the plan's preprocessing (Teachable Machine's without an `input`) in float32 as
// TensorFlow.js computes it, and the plan's calls. An audio model's input is its normalised
// spectrogram, copied in as it is.
function runLayout(layout, input) {
  const kernels = layout.kernels;
  if (layout.rgba === null) {
    if (input) new Float32Array(kernels.memory.buffer, layout.input.address, input.length)
      .set(input);
  } else if (input instanceof Float32Array) {
    // A pose frame: RGB values a resize made, fractions included, so not bytes for `pixels`;
    // the plan's preprocessing here, in float32 as TensorFlow.js computes it.
    const values = new Float32Array(kernels.memory.buffer, layout.input.address, input.length);
    for (let i = 0; i < input.length; i++) {
      values[i] = Math.fround(input[i] / layout.divisor) + layout.offset;
    }
  } else {
    if (input) new Uint8Array(kernels.memory.buffer, layout.rgba, input.length).set(input);
    kernels.pixels(layout.rgba, layout.pixelCount, layout.input.address, layout.grayscale,
      layout.divisor, layout.offset);
  }
  for (const call of layout.calls) call();
  return Array.from(new Float32Array(kernels.memory.buffer, layout.output.address,
    layout.output.count));
}

// The plan's `outputs` after a run, copied out of the module's memory (the next run overwrites
// it): name → {values, shape}.
function layoutOutputs(layout) {
  const memory = layout.kernels.memory.buffer;
  return Object.fromEntries(layout.outputs.map(([name, { address, count, shape }]) =>
    [name, { values: new Float32Array(memory, address, count).slice(), shape }]));
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

export function kernelsRunner(layout) {
  return {
    // image.js's size×size ImageData, or an audio model's Float32Array spectrogram
    classify: async (input) => runLayout(layout, input instanceof Float32Array ? input
      : input.data),
    // The output and the plan's `outputs` (name → {values, shape}, copies), for the pose page.
    // A pose frame comes as float32 RGB (pose.js), kept as it is.
    run: async (input) => ({ output: runLayout(layout, input instanceof Float32Array ? input
      : input.data), outputs: layoutOutputs(layout) }),
    warmUp: async () => layout.warmupMs, // done while the weights downloaded
    dispose() {},
  };
}

// The module (carried in the page, base64) with the plan laid out in its memory, primed and
// warmed up, while the weights download. Compiled on this thread: 9 kB take ~1 ms, where an
// asynchronous compile waited for a busy worker thread.
export async function startKernels(base64, plan, model) {
  const text = atob(base64);
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
  const layout = layOutPlan(plan, instance.exports, model);
  primeKernels(layout);
  // The warm-up: an image's whole path before the weights arrive, since what the values
  // are does not matter to how long the kernels take. The first image then takes the
  // optimised code at once and costs the visitor no warm-up after the download.
  const warmStarted = performance.now();
  runLayout(layout, null);
  layout.warmupMs = performance.now() - warmStarted;
  return layout;
}
