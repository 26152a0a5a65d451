// Tollway admin UI: the only script every page loads (no inline script: the CSP forbids it).
// - forms with data-confirm="..." ask before they post (revoke, delete, purge);
// - buttons with data-copy="<element id>" copy that element's text (a key's secret) to the clipboard.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.getAttribute && form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
});
document.addEventListener("click", function (event) {
  var button = event.target.closest ? event.target.closest("[data-copy]") : null;
  if (!button) {
    return;
  }
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (!source) {
    return;
  }
  var text = source.textContent.trim();
  var done = function () {
    button.textContent = "Copied";
    button.setAttribute("data-copied", "yes");
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () { selectText(source); });
  } else {
    selectText(source);
    try { if (document.execCommand("copy")) { done(); } } catch (e) { /* the text stays selected */ }
  }
});
function selectText(element) {
  var range = document.createRange();
  range.selectNodeContents(element);
  var selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}
