/* The page's behaviour, for designers who write HTML and CSS only: custom elements that each
 * show one part of what the engine does, in the page's words (messages.json). Any of them may
 * be left out, moved or repeated; a missing one takes its feature with it and nothing else.
 * Light DOM throughout, so the page's own CSS styles their insides.
 *
 *   <tm-loading>     progress while the model loads      <tm-upload>   pick, drop or paste
 *   <tm-load-error>  why loading failed, and Retry       <tm-webcam>   start/stop, switch, video
 *   <tm-backend>     "About this classifier" disclosure  <tm-preview>  the image classified
 *   <tm-error>       what went wrong with an input       <tm-result>   verdict and bars
 *   <tm-notice>      warnings (slow device)              <tm-offline>  offline ready / update
 *   <tm-classifier>  an embedded classifier (tmbuild.js): the elements above, for it alone
 *   <tm-microphone>  start/stop listening (audio)        <tm-spectrogram>  the sound, live
 *   <tm-timeline>    a recording's labels, window by window (audio)
 *   <tm-skeleton>    the pose found, over the video or the photo (pose)
 *   [data-tm-sample="URL"]  any element: click to classify that image
 *
 * On a built page, the engine (engine.js) makes the page's classifier as window.tmbuild; this
 * module runs after it and only listens to it. An embedded classifier's tmbuild.js calls
 * `embed` instead, which gives each <tm-classifier> its own scope. Unbundled, a page loads its
 * kind's module (page-audio.js, page-pose.js) before this one: see page-kinds.js. */

import { TmError, TmNotice, pageScope } from "./page-context.js";
import { TmBackend, TmLoadError, TmLoading } from "./page-status.js";
import { TmPreview, TmUpload, TmWebcam } from "./page-inputs.js";
import { TmResult } from "./page-result.js";
import { kindElements } from "./page-kinds.js";
import { TmOffline, registerWorker } from "./page-offline.js";
import { TmClassifier, embed } from "./page-embed.js";
import { wireScope } from "./page-wire.js";

export { embed };

// The elements of the page's contract, by tag (tmbuild.page.contract checks templates by it).
// <tm-classifier> first: the elements inside one must find its scope when they are upgraded.
const ELEMENTS = {
  "tm-classifier": TmClassifier,
  "tm-loading": TmLoading, "tm-load-error": TmLoadError, "tm-backend": TmBackend,
  "tm-error": TmError, "tm-notice": TmNotice, "tm-upload": TmUpload, "tm-webcam": TmWebcam,
  "tm-preview": TmPreview, "tm-result": TmResult, "tm-offline": TmOffline,
  // An audio model's (page-audio.js) or a pose model's (page-pose.js): registered by the kind's
  // module, which a site's page.js carries for its own kind only (page-kinds.js).
  ...kindElements(),
};

// Defined first: the handlers below may show a message in them at once.
for (const [tag, element] of Object.entries(ELEMENTS)) {
  if (!customElements.get(tag)) customElements.define(tag, element);
}

pageScope.withClassifier((classifier) => wireScope(pageScope, classifier));
registerWorker();
