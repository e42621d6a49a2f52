// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  // Stop a double tap from sending a form twice: disable its submit buttons once it is on its way.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.dataset.submitting === "1") { event.preventDefault(); return; }
    form.dataset.submitting = "1";
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.setAttribute("aria-disabled", "true"); b.classList.add("is-busy"); });
    }, 0);
  }, true);
  // A page restored from the back-forward cache must accept a new submit.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-submitting]").forEach(function (f) { delete f.dataset.submitting; });
    document.querySelectorAll("button.is-busy").forEach(function (b) { b.classList.remove("is-busy"); b.removeAttribute("aria-disabled"); });
  });
  // After a refused submit, put the associate on the first field to fix (centred, clear of the sticky bar).
  var invalid = document.querySelector("[aria-invalid=true], .has-error input:not([type=hidden]), .has-error select");
  if (invalid) {
    invalid.focus({ preventScroll: true });
    invalid.scrollIntoView({ block: "center" });
  }
  // Print buttons (no inline handlers: the CSP forbids them).
  document.querySelectorAll("[data-print]").forEach(function (b) {
    b.addEventListener("click", function () { window.print(); });
  });
})();
