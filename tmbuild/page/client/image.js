/* Preprocessing: any image, video frame, canvas, ImageBitmap or ImageData cropped and scaled as
 * Teachable Machine's cropTo does (short side to the model's size, long side centred), but
 * resampled here from the decoded pixels rather than by the browser's drawImage, whose
 * downscale differs between engines (by up to 0.2 in a probability). The source is copied at
 * its natural size (an exact copy in every engine), then each output pixel is the mean of its
 * exact footprint in the source (the "area" filter, chosen by measurement: docs/browsers.md),
 * in integer arithmetic, so one image gives the same pixels, and the same answer, everywhere.
 * tests/support/resample.py computes the same in numpy, and the tests hold the two equal. */

// The weights' fixed point: each output pixel's weights along an axis sum to ONE exactly.
const ONE = 16384;
const HALF_SQUARE = (ONE * ONE) / 2;
const copyCanvas = document.createElement("canvas");
let copyContext = null;
let lastAxes = null; // the tables of the last geometry: a webcam's frames all have the same

export function sourceSize(source) {
  if (typeof HTMLVideoElement !== "undefined" && source instanceof HTMLVideoElement) {
    return [source.videoWidth, source.videoHeight];
  }
  if (typeof HTMLImageElement !== "undefined" && source instanceof HTMLImageElement) {
    return [source.naturalWidth, source.naturalHeight];
  }
  return [source.width, source.height];
}

// Float weights as integers summing to ONE, rounded through their running sum so that no
// rounding error accumulates. Only +, -, *, / and Math.floor: the same bits in every engine.
function fixedWeights(weights) {
  let total = 0;
  for (const weight of weights) total += weight;
  const out = [];
  let running = 0;
  let previous = 0;
  for (const weight of weights) {
    running += weight;
    const current = Math.floor(running * ONE / total + 0.5);
    out.push(current - previous);
    previous = current;
  }
  return out;
}

// One axis: `length` source pixels scaled to `scaled` (Teachable Machine's rounded-up size),
// of which output pixels offset … offset + size - 1 are kept. Output pixel i averages the
// source over [(i + offset) · length / scaled, (i + offset + 1) · length / scaled).
function axisTable(size, offset, length, scaled) {
  const firsts = new Int32Array(size);
  const counts = new Int32Array(size);
  const all = [];
  for (let i = 0; i < size; i++) {
    const start = (i + offset) * length / scaled;
    const end = (i + offset + 1) * length / scaled;
    const first = Math.floor(start);
    const last = Math.min(Math.ceil(end), length);
    const weights = [];
    for (let k = first; k < last; k++) weights.push(Math.min(end, k + 1) - Math.max(start, k));
    firsts[i] = first;
    counts[i] = weights.length;
    all.push(...fixedWeights(weights));
  }
  const low = firsts[0];
  const high = firsts[size - 1] + counts[size - 1]; // footprints only move forward
  return { firsts, counts, weights: Int32Array.from(all), low, span: high - low };
}

// Both axes' tables, the geometry as Teachable Machine's cropTo computes it.
function axesFor(width, height, size) {
  if (lastAxes && lastAxes.width === width && lastAxes.height === height &&
      lastAxes.size === size) {
    return lastAxes;
  }
  const scale = size / Math.min(width, height);
  const scaledWidth = Math.ceil(width * scale);
  const scaledHeight = Math.ceil(height * scale);
  lastAxes = { width, height, size,
    columns: axisTable(size, Math.trunc((scaledWidth - size) / 2), width, scaledWidth),
    rows: axisTable(size, Math.trunc((scaledHeight - size) / 2), height, scaledHeight) };
  return lastAxes;
}

// The RGBA bytes of the region the crop reads, at natural size: an ImageData's own, or the
// source drawn unscaled at whole-pixel offsets (with an <img>'s EXIF orientation applied).
// pose.js reads a whole source through it: columns {low: 0, span: width}, rows likewise.
export function regionPixels(source, columns, rows) {
  if (typeof ImageData !== "undefined" && source instanceof ImageData) {
    return { data: source.data, stride: source.width, x: 0, y: 0 };
  }
  const [width, height] = [columns.span, rows.span];
  if (copyCanvas.width !== width || copyCanvas.height !== height || !copyContext) {
    copyCanvas.width = width;
    copyCanvas.height = height;
    copyContext = copyCanvas.getContext("2d", { willReadFrequently: true });
  } else {
    copyContext.clearRect(0, 0, width, height);
  }
  copyContext.drawImage(source, columns.low, rows.low, width, height, 0, 0, width, height);
  const data = copyContext.getImageData(0, 0, width, height).data;
  return { data, stride: width, x: columns.low, y: rows.low };
}

// The size×size RGBA (opaque) the model reads: rows first, then columns, every sum an exact
// integer below 2^53; mirrored when `flipped` (a user-facing webcam). Pixels are read as one
// 32-bit word each (little-endian: R in the low byte), the columns' sums kept as Float64.
let across = new Float64Array(0); // each source row resampled across, times ONE
let down = new Float64Array(0); // one output row's sums, times ONE²
function resample(region, axes, size, flipped) {
  const { columns, rows } = axes;
  const words = new Uint32Array(region.data.buffer, region.data.byteOffset,
    region.data.length >> 2);
  const stride = region.stride;
  const [firsts, counts, weights] = [columns.firsts, columns.counts, columns.weights];
  const line = size * 3;
  if (across.length < rows.span * line) across = new Float64Array(rows.span * line);
  if (down.length < line) down = new Float64Array(line);
  for (let y = 0; y < rows.span; y++) {
    const rowStart = (y + rows.low - region.y) * stride - region.x;
    let tap = 0;
    let out = y * line;
    for (let x = 0; x < size; x++, out += 3) {
      let r = 0;
      let g = 0;
      let b = 0;
      let at = rowStart + firsts[x];
      for (const end = tap + counts[x]; tap < end; tap++, at++) {
        const weight = weights[tap];
        const word = words[at];
        r += weight * (word & 255);
        g += weight * ((word >>> 8) & 255);
        b += weight * ((word >>> 16) & 255);
      }
      across[out] = r;
      across[out + 1] = g;
      across[out + 2] = b;
    }
  }
  const image = new ImageData(size, size);
  const pixels = image.data;
  let tap = 0;
  for (let y = 0; y < size; y++) {
    down.fill(0, 0, line);
    for (let end = tap + rows.counts[y], from = (rows.firsts[y] - rows.low) * line; tap < end;
      tap++, from += line) {
      const weight = rows.weights[tap];
      for (let i = 0; i < line; i++) down[i] += weight * across[from + i];
    }
    for (let x = 0, i = 0; x < size; x++, i += 3) {
      const out = (y * size + (flipped ? size - 1 - x : x)) * 4;
      pixels[out] = Math.floor((down[i] + HALF_SQUARE) / (ONE * ONE));
      pixels[out + 1] = Math.floor((down[i + 1] + HALF_SQUARE) / (ONE * ONE));
      pixels[out + 2] = Math.floor((down[i + 2] + HALF_SQUARE) / (ONE * ONE));
      pixels[out + 3] = 255;
    }
  }
  return image;
}

// The square the model reads, as ImageData: the source cropped to its centre and scaled so
// its short side is `size`, as Teachable Machine's cropTo, mirrored when `flipped`.
export function cropToSquare(source, size, flipped) {
  const [width, height] = sourceSize(source);
  const axes = axesFor(width, height, size);
  return resample(regionPixels(source, axes.columns, axes.rows), axes, size, flipped);
}

// The loops above, run cold by V8's interpreter, took 50-80 ms on a first 740×496 photo, and
// 5-10 once optimised: passes over a small ImageData while the model downloads bring the
// first prediction down to 10-20 ms.
let warmed = false;
export function warmUpCrop() {
  if (warmed) return;
  warmed = true;
  const small = new ImageData(96, 72);
  for (let pass = 0; pass < 100; pass++) cropToSquare(small, 48, pass % 2 === 1);
  lastAxes = null;
}

export function checkDecoded(source) {
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
