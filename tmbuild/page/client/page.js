/* The default page's behaviour, for designers who write HTML and CSS only: custom elements
 * that each show one part of what the engine does, in the page's words (messages.json). Any
 * of them may be left out, moved or repeated; a missing one takes its feature with it and
 * nothing else. Light DOM throughout, so the page's own CSS styles their insides.
 *
 *   <tm-loading>     progress while the model loads      <tm-upload>   pick, drop or paste
 *   <tm-load-error>  why loading failed, and Retry       <tm-webcam>   start/stop, switch, video
 *   <tm-backend>     "About this classifier" disclosure  <tm-preview>  the image classified
 *   <tm-error>       what went wrong with an input       <tm-result>   verdict and bars
 *   <tm-notice>      warnings (slow device)              <tm-offline>  offline ready / update
 *   [data-tm-sample="URL"]  any element: click to classify that image
 *
 * The engine (engine.js) makes the page's classifier as window.tmbuild; this module runs
 * after it and only listens to it. */

import { TmError, TmNotice, showError, showNotice, t, withClassifier }
  from "./page-context.js";
import { FAILURES, TmBackend, TmLoadError, TmLoading } from "./page-status.js";
import { TmPreview, TmUpload, TmWebcam, wireSamples } from "./page-inputs.js";
import { TmResult } from "./page-result.js";
import { TmOffline, registerWorker } from "./page-offline.js";

// The elements of the page's contract, by tag (tmbuild.page.contract checks templates by it).
const ELEMENTS = {
  "tm-loading": TmLoading, "tm-load-error": TmLoadError, "tm-backend": TmBackend,
  "tm-error": TmError, "tm-notice": TmNotice, "tm-upload": TmUpload, "tm-webcam": TmWebcam,
  "tm-preview": TmPreview, "tm-result": TmResult, "tm-offline": TmOffline,
};

const WEBCAM_FAILURES = { insecure: "webcam_insecure", denied: "webcam_denied",
  unavailable: "webcam_unavailable", video: "webcam_no_video" };

function loadFailed(error) {
  if (error.code === "file") return; // the page's own static message says how to serve it
  console.warn("tmbuild: the classifier did not start:", error.message);
  // A page without <tm-load-error> still says that loading failed.
  if (!document.querySelector("tm-load-error")) {
    showError(t(FAILURES[error.code] || "load_failed_other"));
  }
}

// Defined first: the handlers below may show a message in them at once.
for (const [tag, element] of Object.entries(ELEMENTS)) {
  if (!customElements.get(tag)) customElements.define(tag, element);
}

withClassifier((classifier) => {
  classifier.addEventListener("error", (event) => {
    const { during, code, error } = event.detail;
    if (during === "webcam") showError(t(WEBCAM_FAILURES[code] || "webcam_unavailable"));
    else loadFailed(error);
  });
  if (classifier.state === "failed") loadFailed(classifier.error);
  const slowBackend = () => {
    if (classifier.backend === "cpu") showNotice(t("slow_device"));
  };
  classifier.addEventListener("backend", slowBackend);
  slowBackend();
  classifier.addEventListener("slow", (event) => {
    showNotice(t("webcam_slow", { ms: Math.round(event.detail.medianMs) }));
  });
  wireSamples(classifier);
});

registerWorker();
