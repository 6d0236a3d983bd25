/* The state of the classifier: <tm-loading> while it loads, <tm-load-error> (with Retry) when
 * that failed, <tm-backend> once it runs: a small disclosure, for the curious. */

import { TmElement, make } from "./page-context.js";

// Why loading failed (the engine's error codes) → the visitor's words.
export const FAILURES = { download: "load_failed_download", "no-backend": "load_failed_browser",
  format: "load_failed_format" };

// Opened from a file, the page's own static message says how to serve it instead.
const fromFile = (classifier) => classifier.error && classifier.error.code === "file";

export class TmLoading extends TmElement {
  make() {
    if (!this.querySelector("progress")) {
      this.append(make("p", { class: "tm-loading-text", text: this.t("loading") }),
        make("progress", { max: "1", value: "0" }));
    }
  }

  attach(classifier, on) {
    const text = this.querySelector(".tm-loading-text");
    const bar = this.querySelector("progress");
    const say = (words) => { if (text) text.textContent = words; };
    const sync = () => {
      this.hidden = classifier.state !== "loading";
      if (bar) bar.value = classifier.progress;
    };
    on("loading", () => { say(this.t("loading")); sync(); });
    on("progress", (event) => {
      const total = event.detail.totalBytes / 1e6;
      const shown = (value) => this.scope.formatDecimal(value);
      say(this.t("loading_progress", { loaded: shown(event.detail.fraction * total),
        total: shown(total) }));
      sync();
    });
    on("warming", () => say(this.t("preparing")));
    on("ready", sync);
    on("error", sync);
    sync();
  }
}

export class TmLoadError extends TmElement {
  make() {
    this.setAttribute("role", "alert");
    this.hidden = true;
    this.append(make("p", { class: "error tm-load-error-text" }),
      make("details", { class: "tm-details" }, make("summary", { text: this.t("details") }),
        make("p", { class: "tm-details-text" })),
      make("button", { type: "button", class: "button", text: this.t("retry") }));
  }

  attach(classifier, on) {
    const sync = () => {
      const failed = classifier.state === "failed" && !fromFile(classifier);
      this.hidden = !failed;
      if (!failed) return;
      const code = classifier.error.code;
      this.querySelector(".tm-load-error-text").textContent = this.t(FAILURES[code] ||
        "load_failed_other");
      this.querySelector(".tm-details-text").textContent = classifier.error.message;
    };
    this.querySelector("button").onclick = () => classifier.retry();
    on("loading", sync);
    on("error", sync);
    sync();
  }
}

export class TmBackend extends TmElement {
  make() {
    const model = this.scope.config.model;
    const audio = Boolean(model && model.kind === "audio");
    this.hidden = true;
    this.append(make("details", {}, make("summary", { text: this.t("about") }),
      make("p", { class: "tm-backend-text" }), make("p", { text: this.t(audio
        ? "runs_private_audio" : "runs_private") })));
  }

  attach(classifier, on) {
    const sync = () => {
      const backend = classifier.backend;
      this.hidden = !backend;
      if (!backend) return;
      this.setAttribute("backend", backend);
      this.querySelector(".tm-backend-text").textContent = this.t("runs_on_" + backend);
    };
    on("backend", sync);
    sync();
  }
}
