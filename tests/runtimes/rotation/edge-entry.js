// worker.js as a Vercel Edge function in the service-worker style edge-runtime dispatches
// to; the driver sets globalThis.ROTATION_ENV.
import worker from "./worker.js";

addEventListener("fetch", (event) => {
  event.respondWith(worker.fetch(event.request, globalThis.ROTATION_ENV));
});
