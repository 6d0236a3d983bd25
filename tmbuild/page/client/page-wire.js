/* What a scope (the page, or one embedded classifier) shows of its classifier besides its
 * elements' own parts: why loading failed, webcam errors, warnings, the samples' thumbnails. */

import { FAILURES } from "./page-status.js";
import { loadThumbnails } from "./page-inputs.js";
import { kindOf } from "./page-kinds.js";

const WEBCAM_FAILURES = { insecure: "webcam_insecure", denied: "webcam_denied",
  unavailable: "webcam_unavailable", video: "webcam_no_video" };

function loadFailed(scope, error) {
  if (error.code === "file") return; // the page's own static message says how to serve it
  console.warn("tmbuild: the classifier did not start:", error.message);
  // A page without <tm-load-error> still says that loading failed.
  if (!scope.all("tm-load-error").length) {
    scope.showError(scope.t(FAILURES[error.code] || "load_failed_other"));
  }
}

// What a scope shows of its classifier besides its elements' own parts: errors, warnings, and
// the samples' thumbnails.
export function wireScope(scope, classifier) {
  classifier.addEventListener("error", (event) => {
    const { during, code, error } = event.detail;
    const own = kindOf(scope).failure; // an audio model's microphone, say
    const words = own && own(scope, during, code);
    if (words) scope.showError(words);
    else if (during !== "webcam") loadFailed(scope, error);
    else scope.showError(scope.t(WEBCAM_FAILURES[code] || "webcam_unavailable"));
  });
  if (classifier.state === "failed") loadFailed(scope, classifier.error);
  const slowBackend = () => {
    if (classifier.backend === "cpu") scope.showNotice(scope.t("slow_device"));
  };
  classifier.addEventListener("backend", slowBackend);
  slowBackend();
  classifier.addEventListener("slow", (event) => {
    scope.showNotice(scope.t("webcam_slow", { ms: Math.round(event.detail.medianMs) }));
  });
  loadThumbnails(scope, classifier);
}
