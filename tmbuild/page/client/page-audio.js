/* The listening page's parts, for an audio model: <tm-microphone> (start and stop listening),
 * <tm-spectrogram> (the sound heard, live, as the model reads it) and <tm-timeline> (an
 * uploaded recording's labels, window by window). <tm-upload> takes recordings on this page
 * (page-inputs.js hands them to showRecording). The shared elements reach this module's parts
 * through page-kinds.js only, so that other kinds' pages are bundled without it. */

import { TmElement, make } from "./page-context.js";
import { registerPageKind, shownLabel } from "./page-kinds.js";

const BACKGROUND_NOISE = "_background_noise_";

const MICROPHONE_FAILURES = { insecure: "mic_insecure", denied: "mic_denied",
  unavailable: "mic_unavailable" };

function microphoneFailure(scope, code) {
  return scope.t(MICROPHONE_FAILURES[code] || "mic_unavailable");
}

export class TmMicrophone extends TmElement {
  make() {
    this.hidden = !offered(this.scope, "microphone");
    this.append(make("div", { class: "microphone" },
      make("button", { type: "button", class: "button tm-microphone-toggle", disabled: true,
        "aria-pressed": "false", text: this.t("mic_start") }),
      make("p", { class: "tm-microphone-state", hidden: true, text: this.t("mic_listening") })));
  }

  attach(classifier, on) {
    const toggle = this.querySelector(".tm-microphone-toggle");
    const state = this.querySelector(".tm-microphone-state");
    const microphone = classifier.microphone;
    if (!microphone) return; // an image model's classifier: nothing to listen with
    const sync = () => {
      // Offered while the model loads too: what it hears meanwhile is classified once ready.
      toggle.disabled = classifier.state === "failed";
      toggle.textContent = this.t(microphone.running ? "mic_stop" : "mic_start");
      toggle.setAttribute("aria-pressed", String(microphone.running));
      state.hidden = !microphone.running;
      this.toggleAttribute("listening", microphone.running);
    };
    toggle.onclick = () => {
      if (!microphone.running) this.scope.clearError();
      microphone.toggle().catch(() => {}); // its "error" event says why
    };
    on("ready", sync);
    on("loading", sync);
    on("error", sync);
    on("microphone", sync);
    sync();
  }
}

// site.yaml's audio.inputs: an input it leaves out stays hidden wherever a template puts it.
const offered = (scope, input) => !scope.config.audio ||
  scope.config.audio.inputs.includes(input);

// The dB range drawn from dark to light: the analyser's own defaults (minDecibels,
// maxDecibels), which cover speech at a normal distance.
const QUIET_DB = -100;
const LOUD_DB = -30;

export class TmSpectrogram extends TmElement {
  make() {
    // 43 frames of 232 bins: one second, low frequencies at the bottom.
    const canvas = make("canvas", { width: "172", height: "116", role: "img",
      "aria-label": this.t("spectrogram_label") });
    this.append(canvas);
    this.hidden = true;
  }

  attach(classifier, on) {
    const canvas = this.querySelector("canvas");
    const context = canvas.getContext("2d");
    const column = context.createImageData(4, canvas.height);
    on("frame", (event) => {
      this.hidden = false;
      const frame = event.detail.frame;
      // Scroll left by a column, then draw the new frame at the right edge.
      context.drawImage(canvas, -column.width, 0);
      const rows = canvas.height;
      for (let y = 0; y < rows; y++) {
        const bin = Math.floor(((rows - 1 - y) / rows) * frame.length);
        const level = Math.min(1, Math.max(0, (frame[bin] - QUIET_DB) / (LOUD_DB - QUIET_DB)));
        const shade = Math.round(255 * level);
        for (let x = 0; x < column.width; x++) {
          const at = (y * column.width + x) * 4;
          column.data[at] = shade;
          column.data[at + 1] = Math.round(shade * 0.85);
          column.data[at + 2] = 255 - shade;
          column.data[at + 3] = 255;
        }
      }
      context.putImageData(column, canvas.width - column.width, 0);
    });
    on("microphone", (event) => {
      if (!event.detail.running) this.hidden = true;
    });
  }
}

export class TmTimeline extends TmElement {
  make() {
    this.hidden = true;
    this.append(make("h2", { class: "tm-timeline-heading" }), make("ol", { class: "timeline" }));
  }

  clear() {
    this.hidden = true;
    this.querySelector("ol").replaceChildren();
  }

  // One row a window: when, what was heard and how sure; uncertain windows say so.
  show(name, timeline) {
    const seconds = (value) => this.scope.formatDecimal(value);
    this.querySelector(".tm-timeline-heading").textContent = this.t("timeline_heading",
      { name });
    this.querySelector("ol").replaceChildren(...timeline.windows.map((item) => {
      const label = shownLabel(this.scope, item.top.label);
      const text = item.status === "confident" ? label : this.t("not_sure", { label });
      return make("li", { class: item.status, "data-label": item.top.label },
        make("span", { class: "time", text: this.t("timeline_window",
          { start: seconds(item.start), end: seconds(item.end) }) }),
        make("span", { class: "label", text }),
        make("span", { class: "percent", text: this.scope.formatPercent(item.top.probability) }));
    }));
    this.hidden = false;
  }
}

// A recording picked or dropped: classified window by window into every <tm-timeline>.
function showRecording(scope, file) {
  const name = file.name || "";
  if (file.type && !file.type.startsWith("audio/") && !file.type.startsWith("video/")) {
    scope.showError(scope.t("not_audio", { name }));
    return;
  }
  scope.clearError();
  const attempt = scope.latest = (scope.latest || 0) + 1;
  scope.all("tm-timeline").forEach((timeline) => timeline.clear());
  scope.withClassifier((classifier) => classifier.classifyAudio(file).then((timeline) => {
    if (attempt !== scope.latest) return;
    scope.all("tm-timeline").forEach((element) => element.show(name, timeline));
  }, (error) => {
    if (attempt !== scope.latest || classifier.state === "failed") return;
    scope.showError(scope.t(error.code === "too_long" ? "audio_too_long" : "unreadable_audio",
      { name }));
  }));
}

registerPageKind("audio", {
  elements: { "tm-microphone": TmMicrophone, "tm-spectrogram": TmSpectrogram,
    "tm-timeline": TmTimeline },
  // The background class is no word, but its absence: heard alone, it is silence.
  label: (scope, label) => (label === BACKGROUND_NOISE ? scope.t("background_noise") : label),
  verdict: (scope, result) => (result.top.label === BACKGROUND_NOISE ? scope.t("silence") : null),
  showFile: showRecording,
  failure: (scope, during, code) => (during === "microphone" ? microphoneFailure(scope, code)
    : null),
});
