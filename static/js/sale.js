// The sale's screens: Back never loses a saved sale, and a booking not yet confirmed is checked again on its own.
(function () {
  "use strict";
  var KEY = "store-cover.saved-sale";
  // A page drawn in answer to a POST becomes a plain GET entry, so Back and reload never ask to resend.
  if (document.querySelector("form[data-posted]")) {
    window.history.replaceState(window.history.state, "", window.location.href);
  }
  // The phone's country prefix follows the Country chosen, until a number is typed after it.
  var country = document.querySelector("select[data-calling-codes]");
  var phone = document.getElementById("phone");
  if (country && phone) {
    var codes = JSON.parse(country.getAttribute("data-calling-codes"));
    var before = country.value;
    country.addEventListener("change", function () {
      var typed = phone.value.trim();
      if ((typed === "" || typed === "+" + codes[before]) && codes[country.value]) {
        phone.value = "+" + codes[country.value] + " ";
      }
      before = country.value;
    });
  }
  // Remember the sale this tab is on; Back to a blank "New sale" then reopens it (typed, and sold once).
  var saved = document.querySelector("[data-saved-sale]");
  if (saved) { window.sessionStorage.setItem(KEY, saved.getAttribute("data-saved-sale")); }
  if (document.querySelector("form[data-new-sale]")) {
    var nav = window.performance.getEntriesByType("navigation")[0];
    var url = window.sessionStorage.getItem(KEY);
    if (nav && nav.type === "back_forward" && url) { window.location.replace(url); return; }
    window.sessionStorage.removeItem(KEY);
  }
  var form = document.querySelector("form[data-auto-check]");
  if (!form) { return; }
  var seconds = parseInt(form.getAttribute("data-auto-check"), 10) || 8;
  window.setTimeout(function () {
    if (form.dataset.submitting !== "1") { form.requestSubmit(); }
  }, seconds * 1000);
})();
