/* Sound in, spectrograms out, exactly as @tensorflow-models/speech-commands 0.5.4 (the library
 * Teachable Machine's audio export runs on) makes them: an AudioContext at 44.1 kHz feeding an
 * AnalyserNode of 2048 points with no smoothing, its dB spectrum read every 1024 samples
 * (23.2 ms), the first 232 bins kept, 43 frames to a window, a frame whose first bin is
 * -Infinity (silence before the first samples) dropped. Windows are taken as its Tracker takes
 * them: every `round(43 × (1 − overlap))` frames counted from the start, once 43 frames have
 * been heard (see frameQueue). The network then reads the window z-normalised.
 *
 * The microphone reads the analyser on a timer, as speech-commands does; a file is played
 * through the same analyser in an OfflineAudioContext suspended at every 1024th sample, so a
 * file and the same sound through a microphone give the same frames (in time with the sound,
 * where the timer of the live path jitters by a few ms). */

import { registerKind } from "./kinds.js";

export const SAMPLE_RATE = 44100;
export const HOP = 1024; // samples between frames
export const BINS = 232; // of the analyser's 1024
export const FRAMES = 43; // a window: about one second
const ANALYSER_POINTS = 2048; // speech-commands sets fftSize to twice its own fftSize of 1024
// tf.backend().epsilon() of TensorFlow.js's float32 backends, which speech-commands adds to
// the standard deviation.
const EPSILON = 1e-7;
// A file longer than this is refused: its frames alone would hold 100 MB.
export const MAX_FILE_SECONDS = 600;

class AudioError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

export function framesPerHop(overlap) {
  return Math.max(1, Math.round(FRAMES * (1 - overlap)));
}

function analyserOn(context) {
  const analyser = context.createAnalyser();
  analyser.fftSize = ANALYSER_POINTS;
  analyser.smoothingTimeConstant = 0;
  return analyser;
}

// The frames seen so far and when a window is due: speech-commands' queue and Tracker, but
// for the windows of its first second. speech-commands classifies those too, with rows of
// zeros (0 dB, louder than any real frame) in front of the frames it has: on the example
// model both it and this page heard "right" in them on a clip of a hum. A window is due once
// 43 frames have been heard; a recording shorter than that gets its one padded window at the
// end (`padded`), so that it still gets an answer.
export function frameQueue(overlap) {
  const period = framesPerHop(overlap);
  const frames = [];
  let counter = 0;
  const spectrum = new Float32Array(ANALYSER_POINTS / 2);
  const take = () => {
    const values = new Float32Array(FRAMES * BINS);
    frames.forEach((frame, i) => values.set(frame, (FRAMES - frames.length + i) * BINS));
    return { window: values, frame: counter };
  };
  return {
    // The analyser's spectrum now; a window (43 × 232 dB values) when one is due, else null.
    read(analyser) {
      analyser.getFloatFrequencyData(spectrum);
      if (spectrum[0] === -Infinity) return null;
      frames.push(spectrum.slice(0, BINS));
      if (frames.length > FRAMES) frames.shift();
      counter += 1;
      return counter % period === 0 && frames.length === FRAMES ? take() : null;
    },
    padded: () => (frames.length ? take() : null),
    get latest() {
      return frames[frames.length - 1] || null;
    },
  };
}

// (x − mean) / (std + ε) over the whole window, as speech-commands' normalize() (tf.moments:
// the population variance).
export function normalise(window) {
  let sum = 0;
  for (const v of window) sum += v;
  const mean = sum / window.length;
  let squares = 0;
  for (const v of window) squares += (v - mean) * (v - mean);
  const scale = 1 / (Math.sqrt(squares / window.length) + EPSILON);
  const out = new Float32Array(window.length);
  for (let i = 0; i < window.length; i++) out[i] = (window[i] - mean) * scale;
  return out;
}

// Every window of a recording: {window, start, end} in seconds, `end` the time of its last
// frame. Decoding resamples to 44.1 kHz; the channels are mixed down as a microphone's are.
export async function fileWindows(data, overlap) {
  const Offline = window.OfflineAudioContext || window.webkitOfflineAudioContext;
  if (!Offline) throw new AudioError("browser", "this browser has no OfflineAudioContext");
  let buffer;
  try {
    const decoder = new Offline(1, 1, SAMPLE_RATE);
    buffer = await decoder.decodeAudioData(await toArrayBuffer(data));
  } catch (error) {
    throw new AudioError("unreadable", "not a sound this browser can decode: " + error.message);
  }
  if (buffer.duration > MAX_FILE_SECONDS) {
    throw new AudioError("too_long", `${Math.round(buffer.duration)} s of sound; ` +
      `${MAX_FILE_SECONDS} s at most`);
  }
  const count = Math.floor(buffer.length / HOP);
  const context = new Offline(1, Math.max((count + 1) * HOP, HOP), SAMPLE_RATE);
  const source = context.createBufferSource();
  source.buffer = buffer;
  const analyser = analyserOn(context);
  source.connect(analyser);
  analyser.connect(context.destination);
  const queue = frameQueue(overlap);
  const windows = [];
  // Each suspension falls on a render quantum's edge (1024 = 8 × 128 samples), so the
  // analyser holds exactly the 2048 samples up to it.
  for (let k = 1; k <= count; k++) {
    context.suspend((k * HOP) / SAMPLE_RATE).then(() => {
      const due = queue.read(analyser);
      if (due) windows.push({ window: due.window, end: (k * HOP) / SAMPLE_RATE });
      context.resume();
    });
  }
  source.start(0);
  await context.startRendering();
  const short = windows.length ? null : queue.padded();
  if (short) windows.push({ window: short.window, end: (count * HOP) / SAMPLE_RATE });
  for (const item of windows) item.start = Math.max(0, item.end - (FRAMES * HOP) / SAMPLE_RATE);
  return { windows, duration: buffer.duration };
}

async function toArrayBuffer(data) {
  if (data instanceof ArrayBuffer) return data.slice(0); // decodeAudioData detaches it
  if (ArrayBuffer.isView(data)) return data.buffer.slice(data.byteOffset,
    data.byteOffset + data.byteLength);
  return data.arrayBuffer(); // a File or Blob
}

// The classifier's `microphone`: start(), stop(), toggle(), and counters. Each due window is
// classified when the one before has finished (a slow device skips windows, never queues them)
// and dispatched as a "result" event with source "microphone"; every frame as a "frame" event
// {frame: its 232 dB values}, for a live spectrogram.
export function createMicrophone(classifier, settings) {
  const microphone = { running: false, frames: 0, windows: 0, predictions: 0, skipped: 0 };
  let state = null; // {stream, context, analyser, timer, queue}
  let busy = false;
  let starting = null;
  Object.defineProperties(microphone, {
    start: { value: start },
    stop: { value: stop },
    toggle: { value: () => (state || starting ? Promise.resolve(stop()) : start()) },
  });
  const changed = () => classifier.dispatchEvent(new CustomEvent("microphone",
    { detail: { running: microphone.running } }));
  // Opened while the model loaded, and the load failed: the microphone is released.
  classifier.addEventListener("error", (event) => {
    if (event.detail.during === "load") stop();
  });

  function failed(code, message) {
    const error = new AudioError(code, message);
    classifier.dispatchEvent(new CustomEvent("error",
      { detail: { during: "microphone", code, error } }));
    return error;
  }

  async function open() {
    if (!window.isSecureContext || !navigator.mediaDevices) {
      throw failed("insecure", "the microphone needs a secure (https) page");
    }
    let stream;
    try {
      // The sound as it is: Chromium's default echo cancellation, noise suppression and gain
      // control moved a chirp's frames 7 dB (RMS) from the file's, and noise is one of the
      // model's classes. Without them, the microphone's frames are the file's to 0.01 dB.
      stream = await navigator.mediaDevices.getUserMedia({ video: false,
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false } });
    } catch (error) {
      const denied = error.name === "NotAllowedError" || error.name === "SecurityError";
      throw failed(denied ? "denied" : "unavailable", error.message);
    }
    const Context = window.AudioContext || window.webkitAudioContext;
    const context = new Context({ sampleRate: SAMPLE_RATE });
    const analyser = analyserOn(context);
    context.createMediaStreamSource(stream).connect(analyser);
    if (context.state === "suspended") await context.resume();
    return { stream, context, analyser, queue: frameQueue(settings.overlap) };
  }

  async function start() {
    if (state) return microphone;
    if (!starting) {
      starting = (async () => {
        // The microphone opens while the model may still be loading: the second of sound it
        // hears meanwhile fills the first window, classified as soon as the model is ready
        // (the first label came 1.2-1.5 s sooner in bench/audio.py when started early).
        if (classifier.state === "failed") throw classifier.error;
        const opened = await open();
        if (!starting) { // stopped while it was opening
          close(opened);
          return;
        }
        state = opened;
        state.timer = setInterval(tick, (HOP / SAMPLE_RATE) * 1000);
        microphone.running = true;
        changed();
      })().finally(() => { starting = null; });
    }
    await starting;
    return microphone;
  }

  function tick() {
    if (!state) return;
    const due = state.queue.read(state.analyser);
    const frame = state.queue.latest;
    microphone.frames += 1;
    if (frame) classifier.dispatchEvent(new CustomEvent("frame", { detail: { frame } }));
    if (!due) return;
    microphone.windows += 1;
    if (busy) {
      microphone.skipped += 1;
      return;
    }
    busy = true;
    classifier.predictSpectrogram(due.window).then((result) => {
      microphone.predictions += 1;
      if (state) classifier.announce(result, "microphone");
    }).catch((error) => {
      if (classifier.state === "failed") stop(); // the model did not load: nothing to listen for
      else console.warn("tmbuild: a window was not classified:", error.message);
    })
      .finally(() => { busy = false; });
  }

  function close(opened) {
    clearInterval(opened.timer);
    opened.stream.getTracks().forEach((track) => track.stop());
    opened.context.close();
  }

  function stop() {
    starting = null;
    if (!state) return;
    close(state);
    state = null;
    microphone.running = false;
    changed();
  }

  return microphone;
}

// The engine's audio parts (kinds.js): the classifier's microphone, recordings' windows, and
// the normalisation the network reads them with.
registerKind("audio", { createMicrophone, fileWindows, normalise });
