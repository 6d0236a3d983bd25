/* A pose model's frame and pose, as Teachable Machine's @teachablemachine/pose 0.8.6 gets them
 * through PoseNet 2.2 on TensorFlow.js 1.3.1, so that a tmbuild page finds the same keypoints
 * and gives its head the same features (docs/pose.md, "How the page finds the pose").
 *
 * The frame: the source (mirrored first when the webcam is: Teachable Machine estimates on
 * its already flipped canvas) padded with black to a square, centred, then resized to the
 * network's 257×257 by TensorFlow.js 1.3.1's bilinear resize. The padding is PoseNet's: the
 * short side gets round((long - short) / 2) on EACH side, so an odd difference pads one pixel
 * more than a square needs and the resize then stretches by that pixel; the keypoints are
 * scaled back by the same sizes, so they land in place. The runners then apply the plan's
 * x / 127.5 - 1 to the frame's float values (never rounded to bytes: the resize makes
 * fractions, which PoseNet reads).
 *
 * The pose: Teachable Machine asks PoseNet's multi-pose decoder for up to 3 poses (score
 * threshold 0.5, NMS radius 20) and keeps the first. The first pose is always the one grown
 * from the best root candidate (no earlier pose can suppress it), so this finds that root and
 * grows that one pose only: the same keypoints, far less work. */

import { regionPixels, sourceSize } from "./image.js";
import { registerKind } from "./kinds.js";

export const PARTS = ["nose", "leftEye", "rightEye", "leftEar", "rightEar", "leftShoulder",
  "rightShoulder", "leftElbow", "rightElbow", "leftWrist", "rightWrist", "leftHip", "rightHip",
  "leftKnee", "rightKnee", "leftAnkle", "rightAnkle"];

// PoseNet's tree from the nose, [parent, child]: edge i's displacements are channel i (y) and
// channel edges + i (x) of displacementFwd (parent → child) and displacementBwd (child → parent).
const TREE = [[0, 1], [1, 3], [0, 2], [2, 4], [0, 5], [5, 7], [7, 9], [5, 11], [11, 13],
  [13, 15], [0, 6], [6, 8], [8, 10], [6, 12], [12, 14], [14, 16]];

// What Teachable Machine passes the decoder: a root must score at least this much, and be the
// best of its keypoint within this many cells around it.
const ROOT_THRESHOLD = 0.5;
const LOCAL_RADIUS = 1;
const REFINE_STEPS = 2; // a displaced keypoint moves to its cell's offset this many times

// PoseNet's padding of a width × height source to the square's aspect.
function paddingFor(width, height) {
  if (width < height) {
    const side = Math.round(0.5 * (height - width));
    return { top: 0, bottom: 0, left: side, right: side };
  }
  const side = Math.round(0.5 * (width - height));
  return { top: side, bottom: side, left: 0, right: 0 };
}

// One axis of TensorFlow.js 1.3.1's resizeBilinear (corners not aligned, no half-pixel
// centres: output i reads input i · in / out), on the padded axis: for each output index the
// two padded indices it mixes and the weight of the second.
function resizeAxis(size, padded) {
  const ratio = padded / size;
  const low = new Int32Array(size);
  const high = new Int32Array(size);
  const weight = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    const at = ratio * i;
    low[i] = Math.floor(at);
    high[i] = Math.min(padded - 1, Math.ceil(at));
    weight[i] = at - low[i];
  }
  return { low, high, weight };
}

// The frame the network reads for `source`: {pixels: size × size × 3 float32 RGB values in
// 0…255, width, height (the source's), padding}.
export function poseFrame(source, size, flipped) {
  const [width, height] = sourceSize(source);
  // The source at its natural size (drawn unscaled: an exact copy), RGBA.
  const rgba = regionPixels(source, { low: 0, span: width }, { low: 0, span: height }).data;
  const padding = paddingFor(width, height);
  const rows = resizeAxis(size, height + padding.top + padding.bottom);
  const columns = resizeAxis(size, width + padding.left + padding.right);
  // Each padded column's byte offset in a source row (mirrored when flipped), and each padded
  // row's first byte, or -1 in the padding (black).
  const columnAt = (padded) => {
    const x = padded - padding.left;
    if (x < 0 || x >= width) return -1;
    return 4 * (flipped ? width - 1 - x : x);
  };
  const rowAt = (padded) => {
    const y = padded - padding.top;
    return y < 0 || y >= height ? -1 : 4 * width * y;
  };
  const left = Int32Array.from(columns.low, columnAt);
  const right = Int32Array.from(columns.high, columnAt);
  const pixels = new Float32Array(size * size * 3);
  const at = (row, column) => (row < 0 || column < 0 ? -1 : row + column);
  for (let y = 0, out = 0; y < size; y++) {
    const top = rowAt(rows.low[y]);
    const bottom = rowAt(rows.high[y]);
    const down = rows.weight[y];
    for (let x = 0; x < size; x++, out += 3) {
      const across = columns.weight[x];
      const a = at(top, left[x]);
      const b = at(top, right[x]);
      const c = at(bottom, left[x]);
      const d = at(bottom, right[x]);
      for (let channel = 0; channel < 3; channel++) {
        const topLeft = a < 0 ? 0 : rgba[a + channel];
        const topRight = b < 0 ? 0 : rgba[b + channel];
        const bottomLeft = c < 0 ? 0 : rgba[c + channel];
        const bottomRight = d < 0 ? 0 : rgba[d + channel];
        const upper = topLeft + (topRight - topLeft) * across;
        const lower = bottomLeft + (bottomRight - bottomLeft) * across;
        pixels[out + channel] = upper + (lower - upper) * down;
      }
    }
  }
  return { pixels, size, width, height, padding };
}

// The frame as RGBA bytes (rounded), for tools that change it and classify it again: a
// size × size ImageData gives the frame back (no padding, a resize of ratio 1).
export function frameImage(frame) {
  const { pixels, size } = frame;
  const image = new ImageData(size, size);
  for (let p = 0; p < size * size; p++) {
    for (let c = 0; c < 3; c++) image.data[p * 4 + c] = Math.round(pixels[p * 3 + c]);
    image.data[p * 4 + 3] = 255;
  }
  return image;
}

// The pose in the frame's 257 × 257 pixels from the plan's outputs (features: per cell 17
// sigmoid scores, 17 y offsets, 17 x offsets; displacements: per cell 16 y, 16 x), or null
// when no keypoint scores ROOT_THRESHOLD.
export function decodePose(outputs, size) {
  const features = outputs.features; // flattened when a head reads it: the grid is the
  const [rows, columns] = outputs.displacementFwd.shape; // displacements'
  const parts = PARTS.length;
  const depth = 3 * parts;
  const stride = (size - 1) / (rows - 1); // PoseNet's output stride: 16 for 257 → 17
  const cell = (y, x) => (y * columns + x) * depth;
  const score = (y, x, part) => features.values[cell(y, x) + part];
  const root = bestRoot(score, rows, columns, parts);
  if (!root) return null;
  const offsetPoint = (y, x, part) => ({
    y: y * stride + features.values[cell(y, x) + parts + part],
    x: x * stride + features.values[cell(y, x) + 2 * parts + part],
  });
  const nearest = (point) => ({
    y: clamp(Math.round(point.y / stride), 0, rows - 1),
    x: clamp(Math.round(point.x / stride), 0, columns - 1),
  });
  // From a known keypoint along one edge: its displacement, then the offsets where it lands.
  const follow = (from, to, edge, displacements) => {
    const edges = displacements.shape[2] / 2;
    const at = nearest(from.position);
    const base = (at.y * columns + at.x) * displacements.shape[2];
    let point = { y: from.position.y + displacements.values[base + edge],
      x: from.position.x + displacements.values[base + edges + edge] };
    for (let step = 0; step < REFINE_STEPS; step++) {
      const near = nearest(point);
      point = offsetPoint(near.y, near.x, to);
    }
    const near = nearest(point);
    return { part: PARTS[to], score: score(near.y, near.x, to), position: point };
  };
  const keypoints = new Array(parts).fill(null);
  keypoints[root.part] = { part: PARTS[root.part], score: root.score,
    position: offsetPoint(root.y, root.x, root.part) };
  // Towards the nose first (the tree's edges last to first), then out to the limbs.
  for (let edge = TREE.length - 1; edge >= 0; edge--) {
    const [parent, child] = TREE[edge];
    if (keypoints[child] && !keypoints[parent]) {
      keypoints[parent] = follow(keypoints[child], parent, edge, outputs.displacementBwd);
    }
  }
  for (let edge = 0; edge < TREE.length; edge++) {
    const [parent, child] = TREE[edge];
    if (keypoints[parent] && !keypoints[child]) {
      keypoints[child] = follow(keypoints[parent], child, edge, outputs.displacementFwd);
    }
  }
  const total = keypoints.reduce((sum, keypoint) => sum + keypoint.score, 0);
  return { score: total / parts, keypoints };
}

// The highest score at least ROOT_THRESHOLD that no cell within LOCAL_RADIUS beats for its
// keypoint; among equal scores the first in (y, x, keypoint) order, as the decoder's queue
// gives them.
function bestRoot(score, rows, columns, parts) {
  let best = null;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      for (let part = 0; part < parts; part++) {
        const value = score(y, x, part);
        if (value < ROOT_THRESHOLD || (best && value <= best.score)) continue;
        if (isLocalMaximum(score, y, x, part, value, rows, columns)) {
          best = { y, x, part, score: value };
        }
      }
    }
  }
  return best;
}

function isLocalMaximum(score, y, x, part, value, rows, columns) {
  for (let j = Math.max(y - LOCAL_RADIUS, 0); j <= Math.min(y + LOCAL_RADIUS, rows - 1); j++) {
    for (let i = Math.max(x - LOCAL_RADIUS, 0); i <= Math.min(x + LOCAL_RADIUS, columns - 1);
      i++) {
      if (score(j, i, part) > value) return false;
    }
  }
  return true;
}

function clamp(value, low, high) {
  return Math.min(Math.max(value, low), high);
}

// The pose in the source's pixels: the frame's scale undone, then its padding, as PoseNet's
// scaling of its poses does.
export function sourcePose(pose, frame) {
  if (!pose) return null;
  const { padding, width, height, size } = frame;
  const scaleY = (height + padding.top + padding.bottom) / size;
  const scaleX = (width + padding.left + padding.right) / size;
  return { score: pose.score, keypoints: pose.keypoints.map(({ part, score, position }) => ({
    part, score, position: { x: position.x * scaleX - padding.left,
      y: position.y * scaleY - padding.top } })) };
}

// One prediction's pose part: the frame for `source`, the plan run on it, the pose found.
export async function runPose(runner, source, size, flipped) {
  const frame = poseFrame(source, size, flipped);
  const { output, outputs } = await runner.run(frame.pixels);
  return { output, pose: sourcePose(decodePose(outputs, size), frame) };
}

// The whole path once on a blank frame, before the first real one: the runner's first run
// with its outputs, and this file's loops, compiled and optimised while nobody waits.
export async function warmUpPose(runner, size) {
  const started = performance.now();
  await runPose(runner, new ImageData(size, size), size, false);
  return performance.now() - started;
}

// The engine's pose parts (kinds.js), on the frame side of the plan's input (PoseNet's 257).
const frameSize = (classifier) => classifier.config.model.plan.input.shape[0];
registerKind("pose", {
  predict: (classifier, source, flipped) => runPose(classifier.model, source,
    frameSize(classifier), flipped),
  preprocess: (classifier, source, flipped) => frameImage(poseFrame(source,
    frameSize(classifier), flipped)),
  warmUp: (classifier) => warmUpPose(classifier.model, frameSize(classifier)),
});
