/* `offline: true`: the service worker the build writes, and <tm-offline>, which says once the
 * page works offline and offers a reload when a newer build's worker is waiting (never forced:
 * a visitor may be in the middle of something). */

import { TmElement, make, pageScope } from "./page-context.js";

let offlineReady = false;
let waitingWorker = null;
let reloading = false;

export class TmOffline extends TmElement {
  make() {
    this.append(make("p", { class: "tm-offline-ready", hidden: true, text: this.t("offline_ready") }),
      make("div", { class: "update", role: "status", hidden: true },
        make("span", { text: this.t("update_available") }),
        make("button", { type: "button", class: "button secondary", text: this.t("update_reload") })));
    this.querySelector("button").onclick = () => {
      if (!waitingWorker) return;
      reloading = true;
      waitingWorker.postMessage({ type: "tmbuild:activate" });
    };
    this.sync();
  }

  sync() {
    if (!this.made) return;
    this.querySelector(".tm-offline-ready").hidden = !offlineReady;
    this.querySelector(".update").hidden = !waitingWorker;
  }
}

const syncAll = () => document.querySelectorAll("tm-offline").forEach((element) => element.sync());

export function registerWorker() {
  const config = pageScope.config;
  if (!config.offline || !("serviceWorker" in navigator)) return;
  if (location.protocol === "file:") return;
  const container = navigator.serviceWorker;
  const offerUpdate = (worker) => {
    waitingWorker = worker;
    syncAll();
  };
  container.addEventListener("controllerchange", () => {
    if (reloading) location.reload();
  });
  container.register(config.offline.worker).then((registration) => {
    if (registration.waiting && container.controller) offerUpdate(registration.waiting);
    registration.addEventListener("updatefound", () => {
      const worker = registration.installing;
      worker.addEventListener("statechange", () => {
        // With no controller this is the first install, not an update.
        if (worker.state === "installed" && container.controller) offerUpdate(worker);
      });
    });
    // Browsers look for a new worker when the page is opened; a page left open looks again
    // whenever it is shown.
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) registration.update().catch(() => {});
    });
  }, (error) => console.warn("tmbuild: the offline service worker did not start:", error));
  container.ready.then(() => {
    offlineReady = true;
    syncAll();
  });
}
