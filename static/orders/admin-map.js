/* The small maps in the admin's inline rows (customer addresses, an order's drop-offs),
   drawn by the console's map module (static/console/map.js, loaded before this file).
   orders/admin.py renders an empty `[data-admin-map]` in each row; here it becomes a map:
   where the row has lat/lng inputs, a click on the map fills them (and a pin follows what
   is typed); a read-only row shows its position. The empty row Django keeps as a template
   is left alone, and a row added with "Add another" gets its map on `formset:added`. */
(function () {
  "use strict";

  var made = 0;

  function number(value) {
    var parsed = value ? Number(value) : NaN;
    return isFinite(parsed) ? parsed : null;
  }

  function setUp(holder) {
    if (holder._rappiMap || !window.RappiMap || holder.closest(".empty-form")) { return; }
    var row = holder.closest("tr") || holder.closest(".inline-related");
    var lat = row ? row.querySelector("input[name$='-lat']") : null;
    var lng = row ? row.querySelector("input[name$='-lng']") : null;
    made += 1;
    holder.id = holder.id || "admin-map-" + made;
    if (lat && lng && lat.id && lng.id) {
      holder.setAttribute("data-map-pick", "#" + lat.id + ",#" + lng.id);
    }
    window.RappiMap.init(holder);
    var at = [number(holder.getAttribute("data-lat")), number(holder.getAttribute("data-lng"))];
    if (!holder.hasAttribute("data-map-pick") && at[0] !== null && at[1] !== null) {
      window.RappiMap.draw(holder.id, {markers: [{lat: at[0], lng: at[1], kind: "dropoff"}]});
    }
  }

  function setUpAll(root) {
    root.querySelectorAll("[data-admin-map]").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { setUpAll(document); });
  } else {
    setUpAll(document);
  }
  document.addEventListener("formset:added", function (event) { setUpAll(event.target); });
}());
