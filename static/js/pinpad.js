// The PIN pad: large keys that type into the PIN field; the sixth digit sends it. Without this file the field
// takes the PIN from the iPad's number keyboard.
(function () {
  "use strict";
  var pad = document.querySelector("[data-pin-pad]");
  var field = document.getElementById("pin");
  if (!pad || !field) { return; }
  var size = parseInt(field.getAttribute("maxlength") || "6", 10);
  pad.hidden = false;
  pad.addEventListener("click", function (event) {
    var key = event.target.closest("button");
    if (!key || !pad.contains(key)) { return; }
    if (key.hasAttribute("data-clear")) {
      field.value = field.value.slice(0, -1);
      return;
    }
    var digit = key.getAttribute("data-digit");
    if (digit === null || field.value.length >= size) { return; }
    field.value += digit;
    if (field.value.length === size && field.form.requestSubmit) { field.form.requestSubmit(); }
  });
})();
