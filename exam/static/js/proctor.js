// Webcam and browser-event proctoring on the exam page. Snapshots and events travel through the same durable
// outbox as answers (window.examOutbox), so a flaky network delays them but never loses them. Losing the camera
// never blocks the exam: it is reported as an event and the student keeps answering.
(function () {
  "use strict";

  const box = document.getElementById("proctor-root");
  if (!box) return;
  const T = JSON.parse(document.getElementById("proctor-strings").textContent);
  const api = box.dataset.api; // /api/v1/sittings/<id>/proctor
  const $ = (id) => document.getElementById(id);
  let stream = null;
  let every = Number(box.dataset.frameSeconds || "5");
  let hiddenSince = null;
  let blurSince = null;

  function csrf() {
    return document.querySelector('meta[name="csrf-token"]').content;
  }

  function outbox() {
    return window.examOutbox;
  }

  function event(type, extra) {
    const body = Object.assign({ type: type, at: new Date().toISOString() }, extra || {});
    if (outbox()) outbox().enqueue(api + "/events", body, null);
  }

  function snapshot(kind) {
    const video = $("proctor-video");
    if (!stream || !video.videoWidth) return null;
    const canvas = document.createElement("canvas");
    // Small frames: 640 px wide at most, JPEG quality 0.7 (about 30-60 KB).
    const scale = Math.min(1, 640 / video.videoWidth);
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    const image = canvas.toDataURL("image/jpeg", 0.7);
    if (outbox()) {
      outbox().enqueue(api + "/frames", { kind: kind, taken_at: new Date().toISOString(), image: image }, null);
    }
    return image;
  }

  async function startCamera() {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
    } catch (e) {
      event("camera_denied", { details: { reason: String(e && e.name) } });
      $("proctor-status").textContent = T.camera_denied;
      return false;
    }
    const video = $("proctor-video");
    video.srcObject = stream;
    await video.play().catch(() => null);
    stream.getVideoTracks().forEach((track) => {
      track.addEventListener("ended", () => {
        event("camera_stopped");
        $("proctor-status").textContent = T.camera_stopped;
      });
    });
    return true;
  }

  function wait(ms) {
    return new Promise((resolve) => window.setTimeout(resolve, ms));
  }

  async function accept() {
    $("proctor-accept").disabled = true;
    const response = await fetch(api + "/consent", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf(), Accept: "application/json" },
    }).catch(() => null);
    if (!response || !response.ok) {
      $("proctor-status").textContent = T.consent_failed;
      $("proctor-accept").disabled = false;
      return;
    }
    const data = await response.json();
    every = data.frame_seconds || every;
    $("proctor-consent").hidden = true;
    $("proctor-camera").hidden = false;
    if (await startCamera()) {
      $("proctor-status").textContent = T.enrolment;
      await wait(1500);
      snapshot("enrolment");
      $("proctor-status").textContent = T.calibrating;
      for (let i = 0; i < 5; i++) {
        await wait(600);
        snapshot("calibration");
      }
      $("proctor-status").textContent = T.recording;
      window.setInterval(() => snapshot("exam"), every * 1000);
    }
    box.classList.add("running");
  }

  document.addEventListener("visibilitychange", () => {
    if (document.hidden) hiddenSince = Date.now();
    else if (hiddenSince) {
      event("tab_hidden", { duration_seconds: (Date.now() - hiddenSince) / 1000 });
      hiddenSince = null;
    }
  });
  window.addEventListener("blur", () => (blurSince = Date.now()));
  window.addEventListener("focus", () => {
    if (blurSince) event("window_blur", { duration_seconds: (Date.now() - blurSince) / 1000 });
    blurSince = null;
  });
  document.addEventListener("fullscreenchange", () => {
    if (!document.fullscreenElement) event("fullscreen_exit");
  });
  document.addEventListener("copy", () => event("copy"));
  document.addEventListener("paste", () => event("paste"));
  window.addEventListener("offline", () => event("network_lost"));

  $("proctor-accept").addEventListener("click", accept);
})();
