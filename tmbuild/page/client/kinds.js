/* What each kind of model adds to the engine. An image model needs nothing more; sound.js
 * (audio) and pose.js (pose) register their parts here when they run. The build bundles a
 * site's engine with its own kind's module only (bundle.py), before engine.js's body, so that
 * an image site downloads none of the audio and pose code it would never run. Unbundled, a
 * page loads its kind's module (sound.js, pose.js) as a module script before engine.js.
 *
 * The parts an engine may be given, all optional:
 *   createMicrophone(classifier, settings), fileWindows(data, overlap), normalise(window)
 *     an audio model's listening (sound.js);
 *   predict(classifier, source, flipped) → {output, ...more}: the probabilities' output of the
 *     plan and what the result carries beside them (a pose model's `pose`);
 *   preprocess(classifier, source, flipped) → ImageData: what the model reads;
 *   warmUp(classifier) → ms: the kind's own path once, while nobody waits. */

const KINDS = new Map([["image", {}]]);

export function registerKind(kind, parts) {
  KINDS.set(kind, parts);
}

// The parts of `kind`, or null when this engine was bundled without them.
export function kindParts(kind) {
  return KINDS.get(kind) || null;
}
