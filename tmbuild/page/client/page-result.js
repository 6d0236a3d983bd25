/* <tm-result>: the verdict and the top predictions of every result, as bars whose colours are
 * CSS custom properties (--tm-bar, --tm-bar-confident, --tm-bar-uncertain, --tm-track). */

import { TmElement, make } from "./page-context.js";
import { kindOf, shownLabel } from "./page-kinds.js";

export function clearResults(scope) {
  for (const result of scope.all("tm-result")) result.clear();
}

export class TmResult extends TmElement {
  make() {
    this.append(make("p", { class: "verdict" }), make("ol", { class: "predictions" }));
  }

  attach(classifier, on) {
    on("result", (event) => this.show(event.detail.result));
  }

  // How many predictions: the element's top-k attribute, else the site's classifier.top_k.
  get topK() {
    const own = parseInt(this.getAttribute("top-k"), 10);
    return own >= 0 ? own : this.scope.config.classifier.topK;
  }

  clear() {
    this.removeAttribute("status");
    this.querySelector(".verdict").textContent = "";
    this.querySelector(".predictions").replaceChildren();
  }

  show(result) {
    this.setAttribute("status", result.status);
    const verdict = this.querySelector(".verdict");
    verdict.className = "verdict " + result.status;
    // A kind's own words for a verdict: an audio model's background class is heard as silence.
    const own = kindOf(this.scope).verdict;
    const label = shownLabel(this.scope, result.top.label);
    verdict.textContent = (own && own(this.scope, result))
      || (result.status === "confident" ? label : this.t("not_sure", { label }));
    this.querySelector(".predictions").replaceChildren(...result.predictions.slice(0, this.topK)
      .map((p) => {
        const fill = make("span", { class: "fill" });
        fill.style.setProperty("--tm-probability", p.probability);
        const bar = make("span", { class: "bar", role: "meter", "aria-valuemin": "0",
          "aria-valuemax": "1", "aria-valuenow": String(p.probability),
          "aria-label": shownLabel(this.scope, p.label) }, fill);
        return make("li", {}, make("span", { class: "label", text: shownLabel(this.scope,
          p.label) }), bar,
          make("span", { class: "percent", text: this.scope.formatPercent(p.probability) }));
      }));
  }
}
