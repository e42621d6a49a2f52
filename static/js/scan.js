// Scan instead of type: a Scan button beside SKU / barcode and Serial number reads a code with the rear camera.
// The decoder (static/vendor/zxing-library, pure JavaScript) is loaded only when Scan is first tapped.
// Whatever goes wrong, the field stays typeable and the message beside it says why.
(function () {
  "use strict";
  var words = document.getElementById("scan-words");
  var panelTemplate = document.getElementById("scan-panel");
  if (!words || !panelTemplate) { return; }
  var loading = null;

  function loadDecoder() {
    if (window.ZXing) { return Promise.resolve(window.ZXing); }
    if (loading) { return loading; }
    loading = new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = words.dataset.lib;
      script.onload = function () { return window.ZXing ? resolve(window.ZXing) : reject(new Error("no ZXing")); };
      script.onerror = function () { loading = null; reject(new Error("not loaded")); };
      document.head.appendChild(script);
    });
    return loading;
  }

  function say(button, text, tone) {
    var box = document.getElementById(button.dataset.scanMessage);
    if (!box) { return; }
    box.textContent = text || "";
    box.className = "scan-message" + (tone ? " scan-" + tone : "");
  }

  function hints(Z) {
    var h = new Map();
    h.set(Z.DecodeHintType.POSSIBLE_FORMATS, [
      Z.BarcodeFormat.EAN_13, Z.BarcodeFormat.UPC_A, Z.BarcodeFormat.CODE_128,
      Z.BarcodeFormat.CODE_39, Z.BarcodeFormat.QR_CODE, Z.BarcodeFormat.DATA_MATRIX
    ]);
    h.set(Z.DecodeHintType.TRY_HARDER, true);
    return h;
  }

  function why(error) {
    var name = error && error.name;
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") {
      return words.dataset.denied;
    }
    if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
      return words.dataset.noCamera;
    }
    if (name === "NotReadableError" || name === "TrackStartError") { return words.dataset.busy; }
    return words.dataset.failed;
  }

  function scan(button) {
    var field = document.getElementById(button.dataset.scanFor);
    if (!field) { return; }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say(button, words.dataset.noCamera, "bad");
      return;
    }
    button.setAttribute("aria-disabled", "true");
    say(button, words.dataset.starting);
    loadDecoder().then(function (Z) {
      var panel = panelTemplate.content.firstElementChild.cloneNode(true);
      document.body.appendChild(panel);
      var reader = new Z.BrowserMultiFormatReader(hints(Z), 250);
      var finished = false;
      function close() {
        finished = true;
        reader.reset();
        panel.remove();
        button.removeAttribute("aria-disabled");
      }
      panel.querySelector("[data-scan-cancel]").addEventListener("click", function () {
        close();
        say(button, words.dataset.cancelled);
        field.focus();
      });
      var camera = { video: { facingMode: { ideal: "environment" } }, audio: false };
      return reader.decodeFromConstraints(camera, panel.querySelector("video"), function (result) {
        if (finished || !result) { return; }
        field.value = result.getText();
        field.dispatchEvent(new Event("input", { bubbles: true }));
        field.dispatchEvent(new Event("change", { bubbles: true }));
        close();
        say(button, words.dataset.done, "ok");
        field.focus();
      }).catch(function (error) {
        close();
        say(button, why(error), "bad");
      });
    }).catch(function () {
      button.removeAttribute("aria-disabled");
      say(button, words.dataset.failed, "bad");
    });
  }

  document.querySelectorAll("[data-scan-for]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      if (button.getAttribute("aria-disabled") !== "true") { scan(button); }
    });
  });
})();
