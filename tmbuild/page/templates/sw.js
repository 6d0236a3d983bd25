/* tmbuild service worker (offline: true). Precaches the page, the runtime files it may need
 * and the model, serves them cache-first, and deletes the caches of older builds of this site
 * when it takes over. Every file but the page has a content-hashed name, and the page is
 * cached under this build's cache name, so an entry never goes stale: a new build is a new
 * worker (this file changes whenever any file of the site does) with a new cache. */
"use strict";

const SITE = {{ site_path | json_script }};
const CACHE_PREFIX = "tmbuild:" + SITE + ":";
const CACHE = CACHE_PREFIX + {{ build_id | json_script }};
const PAGE = SITE; // the page is cached under the site's folder URL
const PRECACHE = {{ precache | json_script }};

self.addEventListener("install", (event) => {
  // cache: "reload" skips the HTTP cache: the page there may be an older build's.
  event.waitUntil(caches.open(CACHE).then((cache) =>
    cache.addAll(PRECACHE.map((url) => new Request(url, { cache: "reload" })))));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys().then((names) => Promise.all(names
    .filter((name) => name.startsWith(CACHE_PREFIX) && name !== CACHE)
    .map((name) => caches.delete(name)))).then(() => self.clients.claim()));
});

// The page asks the waiting worker to take over when the visitor chooses to reload.
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "tmbuild:activate") self.skipWaiting();
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  let key = url.pathname;
  if (key === SITE + "index.html" || request.mode === "navigate" && key === SITE) key = PAGE;
  if (!PRECACHE.includes(key)) return; // not ours: the network, as without a worker
  event.respondWith(caches.open(CACHE).then((cache) => cache.match(key)).then((cached) =>
    cached || fetch(request)));
});
