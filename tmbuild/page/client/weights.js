/* The model's weights: downloaded with progress, or read from a single-file page, and decoded
 * (dequantised) as TensorFlow.js does. Shared by both runners. */

import { DownloadError } from "./errors.js";

export const elements = (shape) => shape.reduce((a, b) => a * b, 1);

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

// tmbuild's int8 format (tmbuild/model/int8.py): `channels` float32 scales, then one signed
// level per value; value i is level × the scale of channel i mod channels, rounded once.
function decodeInt8(buffer, offset, count, channels) {
  const scales = new Float32Array(buffer.slice(offset, offset + channels * 4));
  const levels = new Int8Array(buffer, offset + channels * 4, count);
  const values = new Float32Array(count);
  for (let i = 0, c = 0; i < count; i++) {
    values[i] = levels[i] * scales[c];
    if (++c === channels) c = 0;
  }
  return values;
}

// Decodes the entries of `entries` (manifest order) from the front of a buffer as its bytes
// come in: each as soon as all of its bytes are there, so that decoding overlaps the download
// and nothing but the last entry is left for after the last byte. Dequantised as TensorFlow.js
// does: float16 exactly, uint8/uint16 as level × scale + min; and tmbuild's int8, per output
// channel, into the same float32 for both runners.
class WeightDecoder {
  constructor(entries) {
    this.entries = entries;
    this.next = 0; // the first entry not decoded yet
    this.offset = 0; // where its bytes start
    this.weights = new Map(); // name → {values: Float32Array, shape}
  }

  // Every entry whose bytes lie within the first `available` bytes of `buffer`.
  decode(buffer, available) {
    for (; this.next < this.entries.length; this.next++) {
      const entry = this.entries[this.next];
      const count = elements(entry.shape);
      const quantization = entry.quantization;
      const end = this.offset + (quantization && quantization.dtype === "int8"
        ? quantization.channels * 4 + count
        : count * (quantization ? STORED_BYTES[quantization.dtype] : 4));
      if (end > available) return;
      const values = quantization && quantization.dtype === "int8"
        ? decodeInt8(buffer, this.offset, count, quantization.channels)
        : decodeFloat(buffer.slice(this.offset, end), count, quantization); // a copy: aligned
      this.weights.set(entry.name, { values, shape: entry.shape });
      this.offset = end;
    }
  }

  // The weights, once `length` bytes have come: exactly those of every entry.
  finish(length) {
    if (this.next < this.entries.length || this.offset !== length) {
      throw new DownloadError("the model's weights are incomplete");
    }
    return this.weights;
  }
}

function decodeFloat(bytes, count, quantization) {
  if (!quantization) return new Float32Array(bytes);
  if (quantization.dtype === "float16" && typeof Float16Array === "function") {
    return new Float32Array(new Float16Array(bytes)); // native, ~30× the loop below
  }
  const values = new Float32Array(count);
  if (quantization.dtype === "float16") {
    const table = float16Table();
    const levels = new Uint16Array(bytes);
    for (let i = 0; i < count; i++) values[i] = table[levels[i]];
    return values;
  }
  const levels = quantization.dtype === "uint8" ? new Uint8Array(bytes) : new Uint16Array(bytes);
  for (let i = 0; i < count; i++) values[i] = levels[i] * quantization.scale + quantization.min;
  return values;
}

// The shards' bytes, joined in manifest order → name → {values: Float32Array, shape}.
export function decodeWeights(entries, buffer) {
  const decoder = new WeightDecoder(entries);
  decoder.decode(buffer, buffer.byteLength);
  return decoder.finish(buffer.byteLength);
}

// A batch norm (names of its weights, and epsilon) as y = x · scale + shift per channel,
// after a bias it follows, if any.
export function normScaleShift(norm, weights, channels, bias) {
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
export function foldBatchNorm(step, weights) {
  const kernel = weights.get(step.kernel);
  const shape = kernel.shape;
  const channels = step.op === "depthwise" ? shape[2] * shape[3] : shape[3];
  const bias = step.bias ? weights.get(step.bias).values : null;
  const { scale, shift } = normScaleShift(step.batchnorm, weights, channels, bias);
  const folded = new Float32Array(kernel.values.length);
  for (let i = 0; i < folded.length; i++) folded[i] = kernel.values[i] * scale[i % channels];
  return { kernel: { values: folded, shape }, bias: { values: shift, shape: [channels] } };
}

// The shards, one after another, with progress, decoded as they download (WeightDecoder):
// name → {values: Float32Array, shape}. `total` is their size, the build's sum of the files.
export async function fetchWeights(urls, total, entries, onProgress) {
  const decoder = new WeightDecoder(entries);
  let joined = new Uint8Array(total);
  let received = 0;
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
      if (received + value.length > joined.length) { // more than the build wrote: said below
        const grown = new Uint8Array(2 * (received + value.length));
        grown.set(joined.subarray(0, received));
        joined = grown;
      }
      joined.set(value, received);
      received += value.length;
      onProgress(Math.min(received / total, 1));
      decoder.decode(joined.buffer, received);
    }
  }
  return decoder.finish(received);
}

// A single-file page carries the model in a JSON block of its own (tmbuild.page.single_file).
export function embeddedModel(id) {
  return JSON.parse(document.getElementById(id).textContent);
}

export async function embeddedWeights(embedded) {
  const response = await fetch("data:application/octet-stream;base64," + embedded.weightData);
  return response.arrayBuffer();
}
