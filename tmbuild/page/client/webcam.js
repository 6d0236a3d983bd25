/* The webcam: a camera stream, classified frame after frame, from a <video> the page shows
 * (webcam.start({video})) or from the engine's own, which no page needs to show. */

// Median prediction time above which live video stutters (under 4 predictions a second).
export const SLOW_PREDICTION_MS = 250;

class WebcamError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// The classifier's `webcam`: start(), stop(), switchCamera(), and counters for integrators
// and tests: `frames` animation frames while running, `skipped` while a prediction was in
// flight, `throttled` by max_fps.
export function createWebcam(classifier, settings) {
  const minInterval = settings.maxFps > 0 ? 1000 / settings.maxFps : 0;
  const ownVideo = document.createElement("video");
  ownVideo.muted = true;
  ownVideo.playsInline = true;
  let video = ownVideo; // the frames' source: a page's own <video>, or one of the engine's
  let busy = false;
  let lastStart = -Infinity;
  let durations = [];
  let resumeWhenVisible = false;
  let slowWarned = false;
  let starting = null;

  const webcam = { running: false, facingMode: "user", mirrored: false,
    frames: 0, predictions: 0, skipped: 0, throttled: 0, medianMs: 0, busy: false };
  // Not enumerable, so that {...webcam} stays the plain counters it was.
  Object.defineProperties(webcam, {
    stream: { value: null, writable: true },
    start: { value: start },
    stop: { value: stop },
    switchCamera: { value: switchCamera },
    toggle: { value: (options) => (webcam.stream ? Promise.resolve(stop()) : start(options)) },
  });

  const changed = () => classifier.dispatchEvent(new CustomEvent("webcam", { detail: {
    running: webcam.running, stream: webcam.stream, facingMode: webcam.facingMode,
    mirrored: webcam.mirrored } }));

  function failed(code, message) {
    const error = new WebcamError(code, message);
    classifier.dispatchEvent(new CustomEvent("error", { detail: { during: "webcam", code, error } }));
    return error;
  }

  function record(ms) {
    durations = durations.concat(ms).slice(-15);
    const sorted = durations.slice().sort((a, b) => a - b);
    webcam.medianMs = sorted[Math.floor(sorted.length / 2)];
    if (!slowWarned && durations.length >= 5 && webcam.medianMs > SLOW_PREDICTION_MS) {
      slowWarned = true;
      classifier.dispatchEvent(new CustomEvent("slow", { detail: { medianMs: webcam.medianMs } }));
    }
  }

  // Classify the newest frame whenever the previous prediction has finished, so a slow device
  // skips frames instead of queueing them (and their tensors).
  function loop(now) {
    const stream = webcam.stream;
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
    classifier.predict(video, { flipped: webcam.mirrored }).then((result) => {
      webcam.predictions += 1;
      record(performance.now() - started);
      if (webcam.stream === stream) classifier.announce(result, "webcam");
    }, () => {}).finally(() => {
      busy = webcam.busy = false;
    });
  }

  function stop() {
    if (webcam.stream) webcam.stream.getTracks().forEach((track) => track.stop());
    const wasRunning = webcam.running || webcam.stream;
    webcam.stream = null;
    webcam.running = false;
    video.srcObject = null;
    if (wasRunning) changed();
  }

  // start({video}): classify the frames of a <video> the page shows anyway, rather than
  // decoding the stream a second time in one of the engine's own.
  function start(options) {
    if (!starting) starting = begin(options || {}).finally(() => { starting = null; });
    return starting;
  }

  async function begin(options) {
    if (webcam.stream) return webcam.stream;
    if (!window.isSecureContext || !navigator.mediaDevices) {
      throw failed("insecure", "the webcam needs a secure page (https:// or localhost)");
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: false, video: { facingMode: { ideal: webcam.facingMode } } });
    } catch (error) {
      const denied = error.name === "NotAllowedError";
      throw failed(denied ? "denied" : "unavailable", error.message);
    }
    const track = stream.getVideoTracks()[0];
    const facing = track && track.getSettings().facingMode;
    if (facing) webcam.facingMode = facing;
    webcam.mirrored = Boolean(settings.mirrorWebcam) && webcam.facingMode !== "environment";
    webcam.stream = stream;
    webcam.running = true;
    video = options.video || ownVideo;
    video.srcObject = stream;
    changed();
    try {
      await video.play();
    } catch (error) {
      if (webcam.stream === stream) throw failed("video", error.message);
      return null;
    }
    requestAnimationFrame(loop);
    return stream;
  }

  async function switchCamera() {
    const shown = video === ownVideo ? null : video;
    webcam.facingMode = webcam.facingMode === "user" ? "environment" : "user";
    stop();
    return start({ video: shown });
  }

  // A camera left on in a hidden tab keeps its light on and drains the battery.
  document.addEventListener("visibilitychange", () => {
    if (document.hidden && webcam.stream) {
      resumeWhenVisible = true;
      stop();
    } else if (!document.hidden && resumeWhenVisible) {
      resumeWhenVisible = false;
      const shown = video === ownVideo ? null : video;
      start({ video: shown }).catch(() => {}); // reported as an "error" event
    }
  });
  window.addEventListener("pagehide", stop);
  return webcam;
}
