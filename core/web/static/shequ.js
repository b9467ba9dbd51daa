/* Shequ: small enhancements only. Every page works without this file.
   - Move focus to an error summary when a form comes back with errors (GOV.UK pattern),
     so screen-reader and keyboard users start at the list of problems.
   - A link in the error summary moves focus to its field and shows the field's label. */
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  ready(function () {
    var summary = document.querySelector(".error-summary[data-autofocus]");
    if (!summary) { return; }
    summary.focus();
    summary.addEventListener("click", function (event) {
      var link = event.target.closest("a[href^='#']");
      if (!link) { return; }
      var input = document.getElementById(link.getAttribute("href").slice(1));
      if (!input) { return; }
      event.preventDefault();
      var label = document.querySelector("label[for='" + input.id + "']");
      (label || input).scrollIntoView();
      input.focus({ preventScroll: true });
    });
  });
})();
