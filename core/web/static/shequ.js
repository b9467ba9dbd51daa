/* Shequ: small enhancements only. Every page works without this file.
   - The header menu sits open beside the brand on wide screens (see menu()).
   - Move focus to an error summary when a form comes back with errors (GOV.UK pattern),
     so screen-reader and keyboard users start at the list of problems.
   - A link in the error summary moves focus to its field and shows the field's label. */
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }
  /* The header menu (a <details> that works without this file): where the screen is
     wide enough for the tools to sit beside the brand, open it for good and lay it out
     as a bar (.wide); otherwise it stays a menu button, and Escape closes it. */
  function menu() {
    var details = document.getElementById("site-menu");
    var row = document.querySelector(".header-row");
    var brand = row && row.querySelector(".brand");
    var tools = details && details.querySelector(".header-tools");
    if (!details || !brand || !tools) { return; }
    var wide = window.matchMedia("(min-width: 48em)");
    function layout() {
      var wasWide = details.classList.contains("wide");
      if (wide.matches) {
        details.classList.add("wide");
        row.classList.add("wide");
        details.open = true;
        var fits = tools.getBoundingClientRect().left >= brand.getBoundingClientRect().right + 16;
        if (fits) { return; }
      }
      details.classList.remove("wide");
      row.classList.remove("wide");
      if (wasWide) { details.open = false; }
    }
    layout();
    wide.addEventListener("change", layout);
    var pending = false;
    window.addEventListener("resize", function () {
      if (pending) { return; }
      pending = true;
      window.requestAnimationFrame(function () { pending = false; layout(); });
    });
    details.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && details.open && !details.classList.contains("wide")) {
        details.open = false;
        details.querySelector("summary").focus();
      }
    });
  }
  ready(menu);
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
