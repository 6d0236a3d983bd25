// The official speech-commands recognizer, loaded the way Teachable Machine's audio snippet
// loads an export, and exposed to Playwright. config.js sets `officialConfig` ({backend}).
"use strict";

const toBase64 = (floats) => {
  const bytes = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
};
const fromBase64 = (text) => {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new Float32Array(bytes.buffer);
};

window.official = (async () => {
  const { backend } = window.officialConfig;
  if (backend !== null && !(await tf.setBackend(backend))) {
    throw new Error("tf.setBackend failed: " + backend);
  }
  await tf.ready();
  // loadMetadataJson accepts only absolute http(s):// URLs, so the URLs are made absolute.
  const base = new URL("model/", location.href).href;
  const recognizer = speechCommands.create(
    "BROWSER_FFT", undefined, base + "model.json", base + "metadata.json");
  await recognizer.ensureModelLoaded();
  const inputShape = recognizer.modelInputShape().slice(1); // [43, 232, 1]
  // Compile what the first callback would (normalize, predict, the read back): on WebGL under
  // SwiftShader that takes seconds, during which listen() would fire no callback at all.
  const warm = tf.tidy(() => speechCommands.utils.normalize(tf.randomNormal([1, ...inputShape])));
  await recognizer.recognize(warm);
  warm.dispose();

  // The network on given frames. recognizer.recognize(x) does NOT normalise an explicit input
  // (only its no-argument, microphone form does), so raw dB frames go through the library's
  // own normalize first, exactly as listen()'s callback does; `normalized: true` skips it.
  window.officialRecognize = async (spectrograms, normalized) => {
    const scores = [];
    for (const text of spectrograms) {
      const x = tf.tensor4d(fromBase64(text), [1, ...inputShape]);
      const input = normalized ? x : speechCommands.utils.normalize(x);
      try {
        scores.push(Array.from((await recognizer.recognize(input)).scores));
      } finally {
        tf.dispose([x, input]);
      }
    }
    return scores;
  };

  // The live path on the (fake) microphone, for `seconds`, every callback kept.
  window.officialListen = async (seconds, overlapFactor, audioTrackConstraints) => {
    const callbacks = [];
    const start = performance.now();
    await recognizer.listen(async (result) => {
      callbacks.push({
        ms: performance.now() - start,
        scores: Array.from(result.scores),
        // result.spectrogram.data is the RAW frames (x.data() before normalize: dB values,
        // leading rows zero-padded while fewer than 43 frames were heard), not normalised.
        frames: toBase64(result.spectrogram.data),
        frameSize: result.spectrogram.frameSize,
      });
    }, {
      includeSpectrogram: true,
      probabilityThreshold: 0,
      invokeCallbackOnNoiseAndUnknown: true,
      overlapFactor,
      audioTrackConstraints, // undefined: the library's own getUserMedia({audio: true})
    });
    const extractor = recognizer.audioDataExtractor;
    const context = extractor.audioContext;
    // Every analyser read, timed on both clocks: onAudioFrame looks the method up on each
    // tick, and the first tick comes one interval after listen() resolves, so none is missed.
    const reads = [];
    const analyser = extractor.analyser;
    const read = analyser.getFloatFrequencyData.bind(analyser);
    analyser.getFloatFrequencyData = (array) => {
      read(array);
      reads.push([performance.now() - start, context.currentTime, array[0] === -Infinity]);
    };
    // Every firing's prediction, so that those still running at stopListening() are awaited
    // (a slow backend would otherwise drop the last callbacks); onAudioFrame looks this up too.
    const firings = [];
    const fire = extractor.spectrogramCallback;
    extractor.spectrogramCallback = (...args) => {
      const firing = fire(...args);
      firings.push(firing);
      return firing;
    };
    const track = extractor.stream.getAudioTracks()[0];
    const audio = {
      sampleRate: context.sampleRate,
      state: context.state,
      baseLatency: context.baseLatency,
      track: track.getSettings(), // echoCancellation, noiseSuppression, autoGainControl, …
    };
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    audio.stateAtEnd = context.state;
    audio.frames = extractor.tracker.counter; // frames heard (silent reads are not counted)
    await recognizer.stopListening();
    await Promise.all(firings);
    audio.firings = firings.length;
    return { callbacks, audio, reads };
  };

  return {
    backend: tf.getBackend(),
    tfjs: tf.version.tfjs,
    speechCommands: speechCommands.version,
    epsilon: tf.backend().epsilon(),
    labels: recognizer.wordLabels(),
    inputShape,
    params: recognizer.params(),
  };
})();
