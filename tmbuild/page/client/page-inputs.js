/* Where images come from: <tm-upload> (a file, dropped, pasted or picked), <tm-webcam>, and
 * any element with data-tm-sample="URL" (a sample to click). <tm-preview> shows the image.
 * Each works for its own scope: the page, or the <tm-classifier> it is in. */

import { TmElement, make, scopeOf, touchOnly } from "./page-context.js";
import { clearResults } from "./page-result.js";
import { kindOf } from "./page-kinds.js";

// Classification starts from the load event: only then is the image decoded (and turned
// upright by its EXIF orientation, which browsers apply to drawImage).
export function showImage(scope, url, name) {
  if (scope.objectUrl && scope.objectUrl !== url) URL.revokeObjectURL(scope.objectUrl);
  scope.objectUrl = url.startsWith("blob:") ? url : null; // released when the next one comes
  scope.clearError();
  // The image shown last: an earlier one that decodes late is not shown.
  const attempt = scope.latest = (scope.latest || 0) + 1;
  const image = new Image();
  image.onload = () => {
    if (attempt !== scope.latest) return;
    showPreviews(scope, url);
    scope.withClassifier((classifier) => classifier.classify(image, { source: "image" })
      .catch(() => {
        // A failed load is on show already; an image that fails here is one it cannot read.
        if (classifier.state !== "failed") scope.showError(unreadable(scope, name));
      }));
  };
  image.onerror = () => {
    if (attempt !== scope.latest) return;
    showPreviews(scope, null);
    clearResults(scope);
    scope.showError(unreadable(scope, name));
  };
  image.src = url;
}

const unreadable = (scope, name) => (name ? scope.t("unreadable_image", { name })
  : scope.t("unreadable_unnamed"));

function showPreviews(scope, url) {
  for (const preview of scope.all("tm-preview")) preview.show(url);
}

const listening = (scope) => scope.config.model && scope.config.model.kind === "audio";

function showFile(scope, file) {
  if (!file) return;
  const own = kindOf(scope).showFile; // an audio model's page takes recordings
  if (own) {
    own(scope, file);
    return;
  }
  if (file.type && !file.type.startsWith("image/")) {
    scope.showError(scope.t("not_an_image", { name: file.name }));
    return;
  }
  showImage(scope, URL.createObjectURL(file), file.name);
}

export class TmPreview extends TmElement {
  make() {
    if (!this.querySelector("img")) this.append(make("img", { alt: this.t("preview_alt") }));
    this.hidden = true;
  }

  show(url) {
    const image = this.querySelector("img");
    this.hidden = !url;
    if (url && image) image.src = url;
  }
}

// site.yaml's classifier.inputs says what the page offers: an input it leaves out stays hidden
// wherever a template puts it.
const offered = (scope, input) => {
  const settings = listening(scope) ? scope.config.audio : scope.config.classifier;
  return !settings || settings.inputs.includes(input);
};

export class TmUpload extends TmElement {
  make() {
    const audio = listening(this.scope);
    this.hidden = !offered(this.scope, "upload");
    const touch = touchOnly();
    // Recordings on the listening page: what the browser can decode, video files' sound too.
    const input = make("input", { type: "file", accept: audio ? "audio/*,video/webm,.m4a,.opus"
      : "image/*", hidden: true });
    const hint = audio ? "upload_audio_hint" : touch ? "upload_hint_touch" : "upload_hint";
    const button = audio ? "upload_audio_button" : touch ? "upload_button_touch"
      : "upload_button";
    const zone = make("div", { class: "dropzone", tabindex: "0" },
      make("p", { class: "tm-upload-hint", text: this.t(hint) }),
      make("label", { class: "button" }, this.t(button), input));
    this.append(zone);
    input.addEventListener("change", () => showFile(this.scope, input.files[0]));
    zone.addEventListener("keydown", (event) => {
      if (event.target === zone && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        input.click();
      }
    });
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      showFile(this.scope, event.dataTransfer.files[0]);
    });
  }
}

// Pasting works anywhere on a page that offers uploads, once however many it offers: for the
// classifier of the first upload shown (a page with two classifiers: the first one).
document.addEventListener("paste", (event) => {
  const upload = document.querySelector("tm-upload:not([hidden])");
  if (!upload || !upload.scope || !event.clipboardData) return;
  const item = Array.from(event.clipboardData.items).find((i) => i.type.startsWith("image/"));
  if (item) showFile(upload.scope, item.getAsFile());
});

export class TmWebcam extends TmElement {
  make() {
    this.hidden = !offered(this.scope, "webcam");
    this.append(make("div", { class: "webcam" },
      make("button", { type: "button", class: "button tm-webcam-toggle", disabled: true,
        text: this.t("webcam_start") }),
      make("button", { type: "button", class: "button secondary tm-webcam-switch", hidden: true,
        text: this.t("webcam_switch") }),
      make("video", { playsinline: true, muted: true, autoplay: true, hidden: true })));
    this.querySelector("video").muted = true;
  }

  attach(classifier, on) {
    const toggle = this.querySelector(".tm-webcam-toggle");
    const switcher = this.querySelector(".tm-webcam-switch");
    const video = this.querySelector("video");
    const webcam = classifier.webcam;
    const sync = () => {
      toggle.disabled = classifier.state !== "ready";
      toggle.textContent = this.t(webcam.running ? "webcam_stop" : "webcam_start");
      if (video.srcObject !== webcam.stream) video.srcObject = webcam.stream;
      video.hidden = !webcam.running;
      video.classList.toggle("mirrored", webcam.mirrored);
      if (!webcam.running) switcher.hidden = true;
    };
    toggle.onclick = () => {
      if (!webcam.running) this.scope.clearError();
      // The frames come from this element's video: the stream is decoded once for both.
      webcam.toggle({ video }).then(() => countCameras(webcam, switcher), () => {});
    };
    switcher.onclick = () => webcam.switchCamera().catch(() => {});
    on("ready", sync);
    on("loading", sync);
    on("webcam", sync);
    sync();
  }
}

async function countCameras(webcam, switcher) {
  if (!webcam.running || !navigator.mediaDevices) return;
  const devices = await navigator.mediaDevices.enumerateDevices();
  switcher.hidden = devices.filter((d) => d.kind === "videoinput").length < 2;
}

// Samples: any element with data-tm-sample, for the classifier of its scope. Their thumbnails
// (an <img> without src inside) load once that model has, or has failed to: on a first visit
// their downloads and decodes kept the page's thread from the weights, ~80 ms later to the
// first prediction.
document.addEventListener("click", (event) => {
  const sample = event.target.closest && event.target.closest("[data-tm-sample]");
  if (sample) showImage(scopeOf(sample), sample.dataset.tmSample);
});

export function loadThumbnails(scope, classifier) {
  const thumbnails = () => {
    for (const sample of scope.all("[data-tm-sample]")) {
      const image = sample.querySelector("img:not([src])");
      if (image) image.src = sample.dataset.tmSample;
    }
  };
  if (classifier.state === "ready" || classifier.state === "failed") thumbnails();
  else classifier.ready.then(thumbnails, thumbnails);
}
