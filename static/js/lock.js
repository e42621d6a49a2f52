// Quick switch: lock the iPad after the idle seconds the page names (data-lock-after) without a touch, and tell
// the server about touches now and then, so typing a long form never counts as idle. The server locks an idle
// session on its next request too, script or not.
(function () {
  "use strict";
  var form = document.getElementById("lock-form");
  var seconds = parseInt(document.body.getAttribute("data-lock-after") || "", 10);
  if (!form || !(seconds > 0)) { return; }
  var token = form.querySelector("input[name=csrf_token]").value;
  var pingEvery = Math.max(5, Math.min(30, seconds / 4)) * 1000;
  var lastTouch = Date.now();
  var lastPing = Date.now();
  var timer = null;
  var locking = false;

  function lockNow() {
    if (locking) { return; }
    locking = true;
    form.submit(); // a plain submit: the double-tap guard in app.js never holds it back
  }
  function arm() {
    window.clearTimeout(timer);
    timer = window.setTimeout(lockNow, seconds * 1000);
  }
  function ping() {
    lastPing = Date.now();
    window.fetch(form.getAttribute("data-activity"), {
      method: "POST",
      headers: { "X-CSRFToken": token },
      credentials: "same-origin",
      redirect: "follow"
    }).then(function (response) {
      // Locked already (idle on the server's clock): show the names screen.
      if (response.redirected && response.url.indexOf("/auth/locked") !== -1) { window.location.assign(response.url); }
    }).catch(function () { /* offline: the next page load tells */ });
  }
  function touched() {
    if (Date.now() - lastTouch > seconds * 1000) { lockNow(); return; } // a sleeping iPad missed its timer
    lastTouch = Date.now();
    arm();
    if (Date.now() - lastPing >= pingEvery) { ping(); }
  }
  ["pointerdown", "keydown", "input", "touchstart", "wheel"].forEach(function (name) {
    document.addEventListener(name, touched, { capture: true, passive: true });
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && Date.now() - lastTouch > seconds * 1000) { lockNow(); }
  });
  arm();
})();
