// The sale page: while a booking is not yet confirmed, check again on its own every few seconds.
(function () {
  "use strict";
  var form = document.querySelector("form[data-auto-check]");
  if (!form) { return; }
  var seconds = parseInt(form.getAttribute("data-auto-check"), 10) || 8;
  window.setTimeout(function () {
    if (form.dataset.submitting !== "1") { form.requestSubmit(); }
  }, seconds * 1000);
})();
