/* The incidents board refreshes its rows every 10 s (htmx). A row's "Add evidence" form
   lives in those rows: while one is open, or holds chosen files, the refresh skips its
   turn, so the files and the note are not wiped before they are sent. */
(function () {
  "use strict";

  function busy(region) {
    if (region.querySelector("details.add-evidence[open]")) { return true; }
    var inputs = region.querySelectorAll("input[type=file]");
    for (var i = 0; i < inputs.length; i += 1) {
      if (inputs[i].files && inputs[i].files.length) { return true; }
    }
    return false;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var trigger = event.detail.elt.getAttribute("hx-trigger") || "";
    var target = event.detail.target;
    if (trigger.indexOf("every") !== -1 && target && busy(target)) {
      event.preventDefault();
    }
  });
}());
