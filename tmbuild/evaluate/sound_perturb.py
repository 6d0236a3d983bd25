"""Controlled noise and changes of level, to find what an audio model cannot stand: the sound
counterpart of tmbuild.evaluate.perturb's light and framing.

A model trained on clips recorded at one desk, in one quiet room, can score 95% there and 40% in
a classroom. Each change below is what another room or another microphone does to a recording:
a fan or traffic under the word (white and pink noise at 20, 10 and 5 dB below it), a distant
speaker (20 dB quieter) or one too close, whose recording clips. eval classifies the held-out
clips again under each and reports the accuracy.

The changes are made in the page, on the samples the browser decodes (at the page's 44.1 kHz),
which are then written as a 32-bit float WAV and handed to the page's own `classifyAudio`, as
a recording would be: no audio library is needed in Python, and an unchanged clip gives exactly
the windows its file does. The noise is drawn from a generator seeded by the clip's name and
the change's, so two runs give the same report.
"""

from __future__ import annotations

import hashlib

from tmbuild.evaluate.perturb import Perturbation


def _noise(colour: str, snr: int) -> Perturbation:
    what = {"white": "hiss (a fan, a cheap microphone)", "pink": "a rumble (traffic, a crowd)"}
    return Perturbation(
        f"{colour}-noise-{snr}db",
        f"{colour} noise, {snr} dB below",
        f"{colour} noise is {snr} dB below the sound, like {what[colour]}",
        "add training clips recorded in noisier places",
        {"noise": colour, "snr": snr},
    )


SOUND_PERTURBATIONS = [
    *(_noise("white", snr) for snr in (20, 10, 5)),
    *(_noise("pink", snr) for snr in (20, 10, 5)),
    Perturbation(
        "quieter-20db",
        "20 dB quieter",
        "the sound is 20 dB quieter (a speaker far from the microphone)",
        "add training clips spoken from farther away",
        {"gain": -20},
    ),
    Perturbation(
        "louder-6db-clipped",
        "6 dB louder, clipped",
        "the sound is 6 dB louder and clips (a speaker close to the microphone)",
        "add training clips spoken close to the microphone",
        {"gain": 6},
    ),
    Perturbation(
        "louder-12db-clipped",
        "12 dB louder, clipped",
        "the sound is 12 dB louder and clips hard",
        "add training clips spoken loudly, close to the microphone",
        {"gain": 12},
    ),
]

# The level the noise is measured against: the loudest second of the clip (the length of the
# model's window), as the mean square of its samples. A clip's whole length would count the
# silence around a word, and a word in two seconds of silence would get noise 3 dB louder than
# the same word in one.
LEVEL_SECONDS = 1.0


def noise_seed(seed: int, clip: str, perturbation: str) -> int:
    """The noise generator's 32-bit seed for one clip under one change: the same on any machine,
    and independent of the order the clips are classified in."""
    digest = hashlib.sha256(f"{seed}\0{clip}\0{perturbation}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


# `(channels, spec, seed, rate) => channels`: the decoded samples (one Float32Array a channel,
# changed in place) with `spec` applied: {gain} in dB, clipped to [-1, 1] as a recorder clips;
# {noise: "white" | "pink", snr} in dB below the loudest second of the channels' mean. The same
# noise goes into every channel, as one noise in a room reaches both microphones of a pair.
SOUND_PERTURB_JS = (
    """(channels, spec, seed, rate) => {
  const LEVEL_SECONDS = """
    + repr(LEVEL_SECONDS)
    + """;
  const length = channels.length ? channels[0].length : 0;
  if (spec.gain !== undefined) {
    const factor = Math.pow(10, spec.gain / 20);
    for (const samples of channels) {
      for (let i = 0; i < length; i++) {
        samples[i] = Math.max(-1, Math.min(1, samples[i] * factor));
      }
    }
  }
  if (spec.noise) {
    // The loudest second's mean square, of the channels' mean (the analyser's mono mix).
    const mono = new Float64Array(length);
    for (const samples of channels) {
      for (let i = 0; i < length; i++) mono[i] += samples[i] / channels.length;
    }
    const span = Math.max(1, Math.min(length, Math.round(LEVEL_SECONDS * rate)));
    let sum = 0;
    for (let i = 0; i < span; i++) sum += mono[i] * mono[i];
    let loudest = sum;
    for (let i = span; i < length; i++) {
      sum += mono[i] * mono[i] - mono[i - span] * mono[i - span];
      loudest = Math.max(loudest, sum);
    }
    const level = length ? loudest / span : 0;
    if (level > 0) { // digital silence has no level to be below: it stays as it is
      // mulberry32: a small generator whose sequence is the same in every engine.
      let state = seed >>> 0;
      const uniform = () => {
        state = (state + 0x6d2b79f5) >>> 0;
        let t = state;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296; // in (0, 1)
      };
      const noise = new Float64Array(length);
      for (let i = 0; i < length; i += 2) { // Box-Muller: two normal values a pair of draws
        const radius = Math.sqrt(-2 * Math.log(uniform()));
        const angle = 2 * Math.PI * uniform();
        noise[i] = radius * Math.cos(angle);
        if (i + 1 < length) noise[i + 1] = radius * Math.sin(angle);
      }
      if (spec.noise === "pink") {
        // Paul Kellet's filter: white noise to 1/f within 0.05 dB above 9 Hz.
        let b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0;
        for (let i = 0; i < length; i++) {
          const white = noise[i];
          b0 = 0.99886 * b0 + white * 0.0555179;
          b1 = 0.99332 * b1 + white * 0.0750759;
          b2 = 0.969 * b2 + white * 0.153852;
          b3 = 0.8665 * b3 + white * 0.3104856;
          b4 = 0.55 * b4 + white * 0.5329522;
          b5 = -0.7616 * b5 - white * 0.016898;
          noise[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + white * 0.5362;
          b6 = white * 0.115926;
        }
      }
      // Scaled to the exact power asked for, over the whole clip.
      let power = 0;
      for (let i = 0; i < length; i++) power += noise[i] * noise[i];
      power /= length;
      const scale = power > 0 ? Math.sqrt(level / Math.pow(10, spec.snr / 10) / power) : 0;
      for (const samples of channels) {
        for (let i = 0; i < length; i++) samples[i] += noise[i] * scale;
      }
    }
  }
  return channels;
}"""
)

# `(channels, rate) => Uint8Array`: a WAV of 32-bit float samples (format 3), which the browser
# decodes to exactly these values, so the page reads the changed sound and nothing else.
WAV_JS = """(channels, rate) => {
  const count = channels.length, length = count ? channels[0].length : 0;
  const bytes = new Uint8Array(44 + 4 * count * length);
  const view = new DataView(bytes.buffer);
  const text = (offset, value) => {
    for (let i = 0; i < value.length; i++) view.setUint8(offset + i, value.charCodeAt(i));
  };
  text(0, "RIFF");
  view.setUint32(4, 36 + 4 * count * length, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 3, true); // IEEE float
  view.setUint16(22, count, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 4 * count, true);
  view.setUint16(32, 4 * count, true);
  view.setUint16(34, 32, true);
  text(36, "data");
  view.setUint32(40, 4 * count * length, true);
  let offset = 44;
  for (let i = 0; i < length; i++) {
    for (let c = 0; c < count; c++, offset += 4) view.setFloat32(offset, channels[c][i], true);
  }
  return bytes;
}"""
