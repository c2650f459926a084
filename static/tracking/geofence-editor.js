/* The geofence editor (tracking/templates/tracking/geofence_edit.html): Leaflet-Geoman's
   draw and edit tools on the map made by static/console/map.js, kept in step with the
   form's GeoJSON textarea, which is what the server reads (pasting an outline there works
   without this script, and with it the map follows what is typed).

   <form data-geofence-editor="<map id>"> holds <textarea name="geometry">. One polygon per
   form: drawing a new one replaces the old; dragging its corners edits it; removing it
   empties the textarea. The other zones, the corridors and a refused outline are drawn by
   map.js before Geoman is loaded, so Geoman leaves them alone (they have no `pm`).
   Nothing here writes a style attribute or HTML: the toolbar and hints are Geoman's own. */
(function () {
  "use strict";

  var L = window.L;

  function parse(text) {
    var geometry;
    try { geometry = JSON.parse(text); } catch (error) { return null; }
    if (!geometry || geometry.type !== "Polygon" || !Array.isArray(geometry.coordinates)) { return null; }
    var drawable = geometry.coordinates.length > 0 && geometry.coordinates.every(function (ring) {
      return Array.isArray(ring) && ring.length >= 3 && ring.every(function (position) {
        return Array.isArray(position) && position.length === 2 &&
          isFinite(position[0]) && isFinite(position[1]) &&
          Math.abs(position[0]) <= 180 && Math.abs(position[1]) <= 90;
      });
    });
    return drawable ? geometry : null;
  }

  function setUp(form, entry) {
    var map = entry.map;
    var textarea = form.querySelector("textarea[name=geometry]");
    if (!textarea || !L.PM) { return; }
    // map.js made the map before Geoman was loaded: give it Geoman's handler now.
    if (!map.pm) { L.PM.reInitLayer(map); }
    var lang = (document.documentElement.lang || "en").slice(0, 2);
    map.pm.setLang(lang === "es" ? "es" : "en");
    map.pm.setGlobalOptions({
      allowSelfIntersection: true,  // the server says what is refused, and shows where
      snappable: true,
      templineStyle: {className: "map-zone-draft"},
      hintlineStyle: {className: "map-zone-draft"},
      pathOptions: {className: "map-zone map-zone--editing"},
    });
    map.pm.addControls({
      position: "topleft",
      drawMarker: false,
      drawCircleMarker: false,
      drawPolyline: false,
      drawCircle: false,
      drawText: false,
      drawPolygon: true,
      drawRectangle: true,
      editMode: true,
      dragMode: false,
      cutPolygon: false,
      removalMode: true,
      rotateMode: false,
    });

    var current = null;

    function write() {
      textarea.value = current ? JSON.stringify(current.toGeoJSON(7).geometry) : "";
      textarea.dispatchEvent(new Event("change", {bubbles: true}));
    }

    function watch(layer) {
      layer.on("pm:edit pm:update pm:markerdragend pm:vertexremoved", write);
    }

    function replace(layer) {
      if (current && current !== layer) { map.removeLayer(current); }
      current = layer;
      if (layer) { watch(layer); }
    }

    function load(text, fit) {
      var geometry = parse(text);
      if (!geometry) { return false; }
      var rings = geometry.coordinates.map(function (ring) {
        var latLngs = RappiMap.latLngs(ring);
        var first = latLngs[0];
        var last = latLngs[latLngs.length - 1];
        // Leaflet closes rings itself: the repeated first position is left out.
        if (latLngs.length > 3 && first[0] === last[0] && first[1] === last[1]) { latLngs.pop(); }
        return latLngs;
      });
      // Over a refused outline (drawn by map.js from the scene) the copy being mended is
      // a plain line, so the refused one stays in sight beneath it.
      var mending = form.hasAttribute("data-refused") ? " is-mending" : "";
      var layer = L.polygon(rings, {className: "map-zone map-zone--editing" + mending}).addTo(map);
      replace(layer);
      if (fit) { map.fitBounds(layer.getBounds(), {padding: [24, 24], maxZoom: 17, animate: false}); }
      return true;
    }

    map.on("pm:create", function (event) {
      replace(event.layer);
      write();
    });
    map.on("pm:remove", function (event) {
      if (event.layer === current) {
        current = null;
        write();
      }
    });
    textarea.addEventListener("input", function () {
      if (load(textarea.value, false) === false && !textarea.value.trim() && current) {
        map.removeLayer(current);
        current = null;
      }
    });

    // The outline the form holds (the zone edited, or what was just refused) opens in
    // edit mode: its corners can be dragged at once.
    if (load(textarea.value, true) && current.pm) {
      current.pm.enable({allowSelfIntersection: true});
    }
    form.setAttribute("data-editor-ready", "true");
  }

  function start() {
    document.querySelectorAll("form[data-geofence-editor]").forEach(function (form) {
      var id = form.getAttribute("data-geofence-editor");
      var entry = window.RappiMap && RappiMap.get(id);
      if (entry) {
        setUp(form, entry);
        return;
      }
      var container = document.getElementById(id);
      if (container) {
        container.addEventListener("rappi:map-ready", function (event) { setUp(form, event.detail); }, {once: true});
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
