/* The review page's two read-only diagrams (bpmn-js NavigatedViewer): the older version on the
   left with removed and changed elements coloured, the newer on the right with added and changed
   ones. For a Chinese reader, element names with an i18n translation are shown in Chinese.
   Clicking a change in the list selects its element in the newer diagram. */
(function () {
  "use strict";
  var section = document.querySelector(".review[data-markers]");
  if (!section || !window.BpmnJS) { return; }
  var markers = JSON.parse(section.getAttribute("data-markers") || "{}");
  var language = section.getAttribute("data-language") || "en";
  var I18N = "http://www.omg.org/spec/BPMN/non-normative/extensions/i18n/1.0";
  var viewers = {};

  function translated(xml) {
    if (language === "en") { return xml; }
    var doc = new DOMParser().parseFromString(xml, "application/xml");
    var items = doc.getElementsByTagNameNS(I18N, "translation");
    for (var i = 0; i < items.length; i += 1) {
      var lang = (items[i].getAttribute("xml:lang") || "").split("-")[0].toLowerCase();
      var holder = items[i].parentNode && items[i].parentNode.parentNode;
      if (lang === language && holder && holder.getAttribute && holder.hasAttribute("id")) {
        holder.setAttribute("name", items[i].textContent.trim());
      }
    }
    return new XMLSerializer().serializeToString(doc);
  }

  function shapeOf(viewer, id) {
    /* The shape of an element id; a process in a collaboration is shown by its pool. */
    var registry = viewer.get("elementRegistry");
    return registry.get(id) || registry.filter(function (e) {
      return e.businessObject && e.businessObject.processRef && e.businessObject.processRef.id === id;
    })[0] || null;
  }

  function mark(viewer, ids, cls) {
    var canvas = viewer.get("canvas");
    (ids || []).forEach(function (id) {
      var shape = shapeOf(viewer, id);
      if (shape) { canvas.addMarker(shape.id, cls); }
    });
  }

  var boxes = section.querySelectorAll(".review-diagram[data-source]");
  var pending = boxes.length;
  Array.prototype.forEach.call(boxes, function (box) {
    var side = box.getAttribute("data-side");
    var viewer = new window.BpmnJS({ container: box });
    viewers[side] = viewer;
    fetch(box.getAttribute("data-source"), { credentials: "same-origin" })
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.text(); })
      .then(function (xml) { return viewer.importXML(translated(xml)); })
      .then(function () {
        var canvas = viewer.get("canvas");
        canvas.zoom("fit-viewport", "auto");
        if (canvas.zoom() > 1) { canvas.zoom(1, "auto"); }
        if (side === "old") { mark(viewer, markers.removed, "diff-removed"); }
        else { mark(viewer, markers.added, "diff-added"); }
        mark(viewer, markers.changed, "diff-changed");
        box.setAttribute("data-ready", "true");
      })
      .catch(function (error) { box.textContent = String(error); })
      .then(function () { pending -= 1; if (pending === 0) { section.setAttribute("data-ready", "true"); } });
  });

  section.addEventListener("click", function (event) {
    var item = event.target.closest ? event.target.closest("[data-element-id]") : null;
    if (!item) { return; }
    ["new", "old"].forEach(function (side) {
      var viewer = viewers[side];
      var element = viewer && shapeOf(viewer, item.getAttribute("data-element-id"));
      if (element) {
        var canvas = viewer.get("canvas");
        canvas.scrollToElement ? canvas.scrollToElement(element) : null;
        canvas.addMarker(element.id, "diff-focus");
        window.setTimeout(function () { canvas.removeMarker(element.id, "diff-focus"); }, 1500);
      }
    });
  });
})();
