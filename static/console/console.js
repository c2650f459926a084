/* The console's own behaviour, loaded as a file (the Content-Security-Policy allows no
   inline script). Pages work without it; it adds:
   - forms with data-confirm="question" ask before they submit;
   - checkboxes inside a refreshed region (htmx) keep their ticks across refreshes, so a
     dispatcher's selection survives the 10-second polling. */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);

  // Ticked checkboxes by name -> set of values, remembered before a region is swapped.
  var ticked = {};

  function remember(root) {
    root.querySelectorAll("input[type=checkbox][data-keep]").forEach(function (box) {
      var values = ticked[box.name] || (ticked[box.name] = {});
      if (box.checked) { values[box.value] = true; } else { delete values[box.value]; }
    });
  }

  function restore(root) {
    root.querySelectorAll("input[type=checkbox][data-keep]").forEach(function (box) {
      var values = ticked[box.name];
      if (values && values[box.value]) { box.checked = true; }
    });
  }

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches && box.matches("input[type=checkbox][data-keep]")) {
      var values = ticked[box.name] || (ticked[box.name] = {});
      if (box.checked) { values[box.value] = true; } else { delete values[box.value]; }
    }
  });
  document.addEventListener("htmx:beforeSwap", function (event) { remember(event.detail.target); });
  document.addEventListener("htmx:afterSwap", function (event) { restore(event.detail.target); });

  // A timed refresh skips its turn while the user is typing inside the region.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var trigger = event.detail.elt.getAttribute("hx-trigger") || "";
    var target = event.detail.target;
    var focused = document.activeElement;
    var typing = focused && (focused.tagName === "TEXTAREA" || focused.tagName === "SELECT" ||
        (focused.tagName === "INPUT" && !/^(checkbox|radio|submit|button)$/.test(focused.type)));
    if (trigger.indexOf("every") !== -1 && target && typing && target.contains(focused)) {
      event.preventDefault();
    }
  });
}());
