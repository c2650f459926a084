/* The console's one map module: every map on every page (console and admin) is drawn
   here, from data the server puts in the page. Loaded as a file after Leaflet; the
   Content-Security-Policy allows no inline script, and nothing here writes a style
   attribute or HTML from data (labels are text nodes, colours are CSS classes in map.css).

   A map:   <div class="map" id="run-map" data-map data-tiles="…" data-attribution="…"
                 data-center="lat,lng" data-zoom="13"></div>
   Its data: <div hidden data-map-scene="run-map" data-scene='{…}'></div>, anywhere in the
   page, usually inside a region htmx refreshes: each refresh redraws our layers in place
   and keeps the user's zoom and pan (the view fits the data on the first draw only).

   A scene (positions as in GeoJSON, [lng, lat], for lines and polygons):
     zones:   [{geometry: Polygon, kind, label?, url?, active?}]
     lines:   [{coordinates: [[lng, lat], …], kind: "route" | "trail", label?, url?}]
     stops:   [{lat, lng, sequence, kind, status, label?}]
     markers: [{lat, lng, kind, label?, text?, heading?, stale?, url?}]
     circles: [{lat, lng, radius_m, label?}]
     fit:     false to leave the view alone even on the first draw

   Picking a point: data-map-pick="#lat-input,#lng-input" on the map container fills
   those inputs when the map is clicked (and shows a pin there, moved when they are typed
   into); data-map-pick-submit="#form" then submits that form. Other scripts reach a map
   with RappiMap.get(id) → {map, container, layers} and draw with RappiMap.draw(id, scene). */
(function () {
  "use strict";

  var L = window.L;
  var maps = {};

  function text(value) {
    var span = document.createElement("span");
    span.textContent = value;
    return span;
  }

  function latLngs(coordinates) {
    return coordinates.map(function (pair) { return [pair[1], pair[0]]; });
  }

  function go(url) {
    return function () { window.location.assign(url); };
  }

  function decorate(layer, item) {
    if (item.label) { layer.bindTooltip(text(item.label), {sticky: !layer.getLatLng}); }
    if (item.url) { layer.on("click", go(item.url)); }
    return layer;
  }

  function zoneLayer(zone) {
    var classes = "map-zone map-zone--" + zone.kind + (zone.active === false ? " is-inactive" : "") +
        (zone.url ? " is-link" : "") + (zone.refused ? " is-refused" : "");
    var rings = zone.geometry.coordinates.map(latLngs);
    // A link takes its click; other shapes let it through to the map (to pick a point).
    return decorate(L.polygon(rings, {
      className: classes, interactive: Boolean(zone.label || zone.url), bubblingMouseEvents: !zone.url,
    }), zone);
  }

  function lineLayer(line) {
    var classes = "map-line map-line--" + line.kind + (line.url ? " is-link" : "");
    return decorate(L.polyline(latLngs(line.coordinates), {
      className: classes, interactive: Boolean(line.label || line.url), bubblingMouseEvents: !line.url,
    }), line);
  }

  function stopLayer(stop) {
    var badge = document.createElement("span");
    badge.className = "map-stop map-stop--" + stop.kind + " map-stop--" + stop.status;
    badge.textContent = String(stop.sequence);
    var icon = L.divIcon({html: badge, className: "map-icon", iconSize: [26, 26], iconAnchor: [13, 13]});
    // Stops at one spot: the lower number (the next to be reached) stays on top.
    return decorate(L.marker([stop.lat, stop.lng], {
      icon: icon, title: stop.label || "", keyboard: false, zIndexOffset: 500 - stop.sequence * 10,
    }), stop);
  }

  function markerLayer(marker) {
    var badge = document.createElement("span");
    badge.className = "map-marker map-marker--" + marker.kind + (marker.stale ? " is-stale" : "") +
        (marker.url ? " is-link" : "");
    var dot = document.createElement("span");
    dot.className = "map-marker__dot";
    badge.appendChild(dot);
    if (marker.heading !== null && marker.heading !== undefined) {
      var arrow = document.createElement("span");
      arrow.className = "map-marker__heading";
      arrow.style.transform = "rotate(" + Number(marker.heading) + "deg)";
      dot.appendChild(arrow);
    }
    if (marker.text) {
      var caption = document.createElement("span");
      caption.className = "map-marker__text";
      caption.textContent = marker.text;
      badge.appendChild(caption);
    }
    var icon = L.divIcon({html: badge, className: "map-icon", iconSize: null, iconAnchor: [9, 9]});
    var layer = L.marker([marker.lat, marker.lng], {
      icon: icon, title: marker.label || marker.text || "", keyboard: Boolean(marker.url),
      zIndexOffset: marker.kind === "vehicle" ? 1000 : 0,
    });
    return decorate(layer, marker);
  }

  function circleLayer(circle) {
    return decorate(L.circle([circle.lat, circle.lng], {radius: circle.radius_m, className: "map-circle"}), circle);
  }

  function draw(id, scene) {
    var entry = maps[id];
    if (!entry) { return; }
    entry.scene = scene;
    entry.layers.clearLayers();
    (scene.zones || []).forEach(function (zone) { entry.layers.addLayer(zoneLayer(zone)); });
    (scene.circles || []).forEach(function (circle) { entry.layers.addLayer(circleLayer(circle)); });
    (scene.lines || []).forEach(function (line) {
      if (!line.coordinates || line.coordinates.length < 2) { return; }
      if (line.kind === "trail") {
        // A light casing keeps the dotted trail readable where it runs over the route.
        entry.layers.addLayer(L.polyline(latLngs(line.coordinates), {className: "map-line map-line--casing", interactive: false}));
      }
      entry.layers.addLayer(lineLayer(line));
    });
    (scene.stops || []).forEach(function (stop) { entry.layers.addLayer(stopLayer(stop)); });
    (scene.markers || []).forEach(function (marker) { entry.layers.addLayer(markerLayer(marker)); });
    entry.container.setAttribute("data-drawn", String(entry.layers.getLayers().length));
    if (!entry.fitted && scene.fit !== false) { fit(entry); }
    entry.container.dispatchEvent(new CustomEvent("rappi:map-drawn", {bubbles: true, detail: {scene: scene}}));
  }

  // The view fits the data once, when the map first has a size (one in a closed panel
  // waits until it opens); after that it is the user's, even if the data was empty then.
  function fit(entry) {
    if (entry.map.getSize().x === 0) { return; }
    entry.fitted = true;
    var bounds = entry.layers.getBounds();
    if (bounds.isValid()) {
      entry.map.fitBounds(bounds, {padding: [36, 36], maxZoom: 16, animate: false});
    }
  }

  function number(input) {
    var value = input && input.value.trim() ? Number(input.value) : NaN;
    return isFinite(value) ? value : null;
  }

  function setUpPicking(entry) {
    var targets = (entry.container.getAttribute("data-map-pick") || "").split(",");
    var latInput = targets[0] ? document.querySelector(targets[0]) : null;
    var lngInput = targets[1] ? document.querySelector(targets[1]) : null;
    if (!latInput || !lngInput) { return; }
    var submit = entry.container.getAttribute("data-map-pick-submit");
    var pin = null;
    entry.container.classList.add("is-picking");

    function showPin(lat, lng) {
      if (lat === null || lng === null || Math.abs(lat) > 90 || Math.abs(lng) > 180) { return; }
      if (!pin) {
        var dot = document.createElement("span");
        dot.className = "map-pin";
        pin = L.marker([lat, lng], {
          icon: L.divIcon({html: dot, className: "map-icon", iconSize: [18, 18], iconAnchor: [9, 9]}),
          keyboard: false, interactive: false,
        }).addTo(entry.map);
      } else {
        pin.setLatLng([lat, lng]);
      }
    }

    entry.map.on("click", function (event) {
      latInput.value = event.latlng.lat.toFixed(6);
      lngInput.value = L.Util.wrapNum(event.latlng.lng, [-180, 180], true).toFixed(6);
      [latInput, lngInput].forEach(function (input) {
        input.dispatchEvent(new Event("change", {bubbles: true}));
      });
      showPin(number(latInput), number(lngInput));
      var form = submit ? document.querySelector(submit) : null;
      if (form) { form.requestSubmit(); }
    });
    [latInput, lngInput].forEach(function (input) {
      input.addEventListener("input", function () { showPin(number(latInput), number(lngInput)); });
    });
    var lat = number(latInput);
    var lng = number(lngInput);
    if (lat !== null && lng !== null) {
      showPin(lat, lng);
      // Not animated: a click while the map still zooms would land on a moving layer.
      entry.map.setView([lat, lng], 16, {animate: false});  // a scene drawn next may fit its own
    }
  }

  function init(container) {
    if (container._rappiMap) { return; }
    var center = (container.getAttribute("data-center") || "-16.3989,-71.5369").split(",").map(Number);
    var map = L.map(container, {
      center: center, zoom: Number(container.getAttribute("data-zoom") || 13),
      scrollWheelZoom: !container.hasAttribute("data-map-no-scroll"),
    });
    var tiles = container.getAttribute("data-tiles");
    if (tiles) {
      L.tileLayer(tiles, {maxZoom: 19, attribution: container.getAttribute("data-attribution") || ""}).addTo(map);
    }
    var entry = {
      map: map, container: container, layers: L.featureGroup().addTo(map), fitted: false, drawn: null, scene: null,
    };
    container._rappiMap = entry;
    // A map laid out again (a tablet turned, a panel opened) must know its new size.
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        map.invalidateSize();
        if (!entry.fitted && entry.scene && entry.scene.fit !== false) { fit(entry); }
      }).observe(container);
    }
    maps[container.id] = entry;
    setUpPicking(entry);
    container.dispatchEvent(new CustomEvent("rappi:map-ready", {bubbles: true, detail: entry}));
  }

  function drawScenes(root) {
    (root || document).querySelectorAll("[data-map-scene]").forEach(function (holder) {
      var id = holder.getAttribute("data-map-scene");
      var entry = maps[id];
      var raw = holder.getAttribute("data-scene");
      if (!entry || !raw || raw === entry.drawn) { return; }
      entry.drawn = raw;
      draw(id, JSON.parse(raw));
    });
  }

  function start() {
    document.querySelectorAll("[data-map]").forEach(init);
    drawScenes(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("[data-map]").forEach(init);
    drawScenes(document);
  });

  window.RappiMap = {
    get: function (id) { return maps[id]; },
    draw: draw,
    init: init,
    text: text,
    latLngs: latLngs,
  };
}());
