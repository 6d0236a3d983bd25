/* <tm-skeleton>: the pose PoseNet found, keypoints and bones, drawn over the picture it was
 * found in (the webcam's video, or the uploaded photo in <tm-preview>), in Teachable Machine's
 * preview style: aqua dots of radius 4, lines 2 px wide, only what PoseNet is at least
 * `pose.minConfidence` sure of (a bone: both its ends).
 *
 * The engine's positions are in pixels of the source as the model saw it, after the mirror of a
 * mirrored webcam: a canvas of the source's size laid over the (mirrored) video draws in place.
 * The canvas is positioned over the picture on the page wherever a template puts the two; with
 * no picture shown (a template without <tm-webcam> video or <tm-preview>), it shows the frame
 * itself under the skeleton. Colours: CSS custom properties --tm-keypoint and --tm-bone. */

import { TmElement, make } from "./page-context.js";
import { registerPageKind } from "./page-kinds.js";

// posenet's connectedPartNames: the bones drawn, by keypoint index (PoseNet's order).
const PARTS = ["nose", "leftEye", "rightEye", "leftEar", "rightEar", "leftShoulder",
  "rightShoulder", "leftElbow", "rightElbow", "leftWrist", "rightWrist", "leftHip", "rightHip",
  "leftKnee", "rightKnee", "leftAnkle", "rightAnkle"];
const BONES = [["leftHip", "leftShoulder"], ["leftElbow", "leftShoulder"],
  ["leftElbow", "leftWrist"], ["leftHip", "leftKnee"], ["leftKnee", "leftAnkle"],
  ["rightHip", "rightShoulder"], ["rightElbow", "rightShoulder"], ["rightElbow", "rightWrist"],
  ["rightHip", "rightKnee"], ["rightKnee", "rightAnkle"], ["leftShoulder", "rightShoulder"],
  ["leftHip", "rightHip"]].map(([a, b]) => [PARTS.indexOf(a), PARTS.indexOf(b)]);
const KEYPOINT_SIZE = 4;
const LINE_WIDTH = 2;
const COLOUR = "aqua"; // Teachable Machine's

// What is drawn of a pose: the keypoints and bones at or above `minConfidence`.
export function drawnPose(pose, minConfidence) {
  if (!pose) return { keypoints: [], bones: [] };
  const sure = (keypoint) => keypoint && keypoint.score >= minConfidence;
  return {
    keypoints: pose.keypoints.filter(sure),
    bones: BONES.map(([a, b]) => [pose.keypoints[a], pose.keypoints[b]])
      .filter(([a, b]) => sure(a) && sure(b)),
  };
}

export class TmSkeleton extends TmElement {
  make() {
    // Above the picture it is laid over; clicks go through to it.
    this.style.position = "relative";
    if (getComputedStyle(this).display === "inline") this.style.display = "block";
    this.canvas = make("canvas", { class: "tm-skeleton-canvas", role: "img", hidden: true,
      "aria-label": this.t("skeleton_label") });
    Object.assign(this.canvas.style, { position: "absolute", pointerEvents: "none",
      left: "0", top: "0" });
    this.append(this.canvas);
    this.drawn = { keypoints: [], bones: [] };
    this.last = null;
    addEventListener("resize", () => this.last && this.place(this.last.shown));
  }

  get minConfidence() {
    const own = parseFloat(this.getAttribute("min-confidence"));
    if (own >= 0) return own;
    const pose = this.scope.config.pose;
    return pose && typeof pose.minConfidence === "number" ? pose.minConfidence : 0.5;
  }

  attach(classifier, on) {
    on("result", (event) => {
      const { result, source } = event.detail;
      if (!("pose" in result)) return; // not a pose model's result
      this.show(result.pose, this.sourceOf(source, classifier));
    });
    on("webcam", (event) => {
      if (!event.detail.running && this.last && this.last.source === "webcam") this.clear();
    });
  }

  // The picture a result was found in, and the element that shows it on the page (or null).
  sourceOf(source, classifier) {
    if (source === "webcam") {
      const video = this.scope.all("tm-webcam video").find((v) => !v.hidden);
      return { source, shown: video || null, frame: video || null,
        mirrored: classifier.webcam.mirrored };
    }
    const image = this.scope.all("tm-preview img").find((i) => i.complete && i.naturalWidth);
    const preview = image && !image.closest("tm-preview").hidden ? image : null;
    return { source, shown: preview, frame: image || null, mirrored: false };
  }

  clear() {
    this.canvas.hidden = true;
    this.last = null;
    this.drawn = { keypoints: [], bones: [] };
    this.removeAttribute("keypoints");
  }

  show(pose, where) {
    const frame = where.frame;
    const width = frame ? frame.videoWidth || frame.naturalWidth : 0;
    const height = frame ? frame.videoHeight || frame.naturalHeight : 0;
    if (!width || !height) {
      this.clear();
      return;
    }
    const canvas = this.canvas;
    if (canvas.width !== width) canvas.width = width;
    if (canvas.height !== height) canvas.height = height;
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, width, height);
    if (!where.shown) {
      // Nothing on the page shows the picture: the canvas shows it, as the model saw it.
      context.save();
      if (where.mirrored) context.setTransform(-1, 0, 0, 1, width, 0);
      context.drawImage(frame, 0, 0, width, height);
      context.restore();
    }
    this.drawn = drawnPose(pose, this.minConfidence);
    const style = getComputedStyle(this);
    const keypoint = style.getPropertyValue("--tm-keypoint").trim() || COLOUR;
    const bone = style.getPropertyValue("--tm-bone").trim() || COLOUR;
    // Teachable Machine's sizes are in pixels of its small preview canvas: on a larger picture
    // shown smaller, they are kept at that size on the screen.
    const shownWidth = where.shown ? where.shown.getBoundingClientRect().width : 0;
    const scale = shownWidth > 0 ? Math.max(1, width / shownWidth) : 1;
    context.lineWidth = LINE_WIDTH * scale;
    context.strokeStyle = bone;
    for (const [a, b] of this.drawn.bones) {
      context.beginPath();
      context.moveTo(a.position.x, a.position.y);
      context.lineTo(b.position.x, b.position.y);
      context.stroke();
    }
    context.fillStyle = keypoint;
    context.strokeStyle = keypoint;
    for (const point of this.drawn.keypoints) {
      context.beginPath();
      context.arc(point.position.x, point.position.y, KEYPOINT_SIZE * scale, 0, 2 * Math.PI);
      context.fill();
      context.stroke();
    }
    this.setAttribute("keypoints", String(this.drawn.keypoints.length));
    this.last = where;
    this.place(where.shown);
    canvas.hidden = false;
  }

  // Over the element that shows the picture, at its size; in the flow where none does.
  place(shown) {
    const style = this.canvas.style;
    if (!shown) {
      Object.assign(style, { position: "static", width: "100%", height: "auto" });
      return;
    }
    const box = shown.getBoundingClientRect();
    const own = this.getBoundingClientRect();
    const fitted = fit(shown, box);
    Object.assign(style, { position: "absolute", left: box.left - own.left + fitted.x + "px",
      top: box.top - own.top + fitted.y + "px", width: fitted.width + "px",
      height: fitted.height + "px" });
  }
}

// Where a video or image draws its picture inside its box: object-fit contain (a video's
// default), or the whole box when it is filled.
function fit(element, box) {
  const width = element.videoWidth || element.naturalWidth;
  const height = element.videoHeight || element.naturalHeight;
  const mode = getComputedStyle(element).objectFit;
  if (!width || !height || mode === "fill" || (element.tagName === "IMG" && mode !== "contain")) {
    return { x: 0, y: 0, width: box.width, height: box.height };
  }
  const scale = mode === "cover" ? Math.max(box.width / width, box.height / height)
    : Math.min(box.width / width, box.height / height);
  return { x: (box.width - width * scale) / 2, y: (box.height - height * scale) / 2,
    width: width * scale, height: height * scale };
}

registerPageKind("pose", { elements: { "tm-skeleton": TmSkeleton } });
