/* Where images come from: <tm-upload> (a file, dropped, pasted or picked), <tm-webcam>, and
 * any element with data-tm-sample="URL" (a sample to click). <tm-preview> shows the image. */

import { TmElement, clearError, config, make, showError, t, touchOnly, withClassifier }
  from "./page-context.js";
import { clearResults } from "./page-result.js";

let objectUrl = null; // of the uploaded file on show; released when the next one comes
let latest = 0; // the image shown last: an earlier one that decodes late is not shown

// Classification starts from the load event: only then is the image decoded (and turned
// upright by its EXIF orientation, which browsers apply to drawImage).
export function showImage(url, name) {
  if (objectUrl && objectUrl !== url) URL.revokeObjectURL(objectUrl);
  objectUrl = url.startsWith("blob:") ? url : null;
  clearError();
  const attempt = ++latest;
  const image = new Image();
  image.onload = () => {
    if (attempt !== latest) return;
    showPreviews(url);
    withClassifier((classifier) => classifier.classify(image, { source: "image" }).catch(() => {
      // A failed load is on show already; an image that fails here is one it cannot read.
      if (classifier.state !== "failed") showError(unreadable(name));
    }));
  };
  image.onerror = () => {
    if (attempt !== latest) return;
    showPreviews(null);
    clearResults();
    showError(unreadable(name));
  };
  image.src = url;
}

const unreadable = (name) => (name ? t("unreadable_image", { name }) : t("unreadable_unnamed"));

function showPreviews(url) {
  for (const preview of document.querySelectorAll("tm-preview")) preview.show(url);
}

function showFile(file) {
  if (!file) return;
  if (file.type && !file.type.startsWith("image/")) {
    showError(t("not_an_image", { name: file.name }));
    return;
  }
  showImage(URL.createObjectURL(file), file.name);
}

export class TmPreview extends TmElement {
  make() {
    if (!this.querySelector("img")) this.append(make("img", { alt: t("preview_alt") }));
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
const offered = (input) => !config.classifier || config.classifier.inputs.includes(input);

export class TmUpload extends TmElement {
  make() {
    this.hidden = !offered("upload");
    const touch = touchOnly();
    const input = make("input", { type: "file", accept: "image/*", hidden: true });
    const zone = make("div", { class: "dropzone", tabindex: "0" },
      make("p", { class: "tm-upload-hint", text: t(touch ? "upload_hint_touch" : "upload_hint") }),
      make("label", { class: "button" }, t(touch ? "upload_button_touch" : "upload_button"), input));
    this.append(zone);
    input.addEventListener("change", () => showFile(input.files[0]));
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
      showFile(event.dataTransfer.files[0]);
    });
  }
}

// Pasting works anywhere on a page that offers uploads, once however many it offers.
document.addEventListener("paste", (event) => {
  if (!document.querySelector("tm-upload:not([hidden])") || !event.clipboardData) return;
  const item = Array.from(event.clipboardData.items).find((i) => i.type.startsWith("image/"));
  if (item) showFile(item.getAsFile());
});

export class TmWebcam extends TmElement {
  make() {
    this.hidden = !offered("webcam");
    this.append(make("div", { class: "webcam" },
      make("button", { type: "button", class: "button tm-webcam-toggle", disabled: true,
        text: t("webcam_start") }),
      make("button", { type: "button", class: "button secondary tm-webcam-switch", hidden: true,
        text: t("webcam_switch") }),
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
      toggle.textContent = t(webcam.running ? "webcam_stop" : "webcam_start");
      if (video.srcObject !== webcam.stream) video.srcObject = webcam.stream;
      video.hidden = !webcam.running;
      video.classList.toggle("mirrored", webcam.mirrored);
      if (!webcam.running) switcher.hidden = true;
    };
    toggle.onclick = () => {
      if (!webcam.running) clearError();
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

// Samples: any element with data-tm-sample. Their thumbnails (an <img> without src inside)
// load once the model has, or has failed to: on a first visit their downloads and decodes
// kept the page's thread from the weights, ~80 ms later to the first prediction.
export function wireSamples(classifier) {
  document.addEventListener("click", (event) => {
    const sample = event.target.closest && event.target.closest("[data-tm-sample]");
    if (sample) showImage(sample.dataset.tmSample);
  });
  const thumbnails = () => {
    for (const sample of document.querySelectorAll("[data-tm-sample]")) {
      const image = sample.querySelector("img:not([src])");
      if (image) image.src = sample.dataset.tmSample;
    }
  };
  if (classifier.state === "ready" || classifier.state === "failed") thumbnails();
  else classifier.ready.then(thumbnails, thumbnails);
}
