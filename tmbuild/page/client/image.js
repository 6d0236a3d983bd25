/* Preprocessing, identical to Teachable Machine's: any image, video frame, canvas or ImageData
 * scaled so its short side is the model's size, and centre-cropped to a square. */

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
export function cropToSquare(source, size, flipped) {
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
