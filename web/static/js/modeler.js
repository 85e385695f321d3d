/* bpmn-js modeler with its properties panel, extended with a "GMP" group that edits our
   extension properties (spiffworkflow:properties / spiffworkflow:property name value, see
   docs/bpmn-extensions.md), the role of a lane, the roles that start a process and the Chinese
   name of any element (an i18n:translation, BPMN MIWG's non-normative extension). Known
   choices (signature meanings, roles, gates, SOPs, equipment, the bundle's forms) come from
   the server (`/library/choices`, web/choices.py); other values may still be typed.

   Saving posts the XML and stays here: the server stores a new draft whatever its checks
   find and answers with the draft's problems, which are marked on their elements and listed
   by element name. "Submit for approval" runs the full checks on the saved draft.

   The vendored bpmn-js-properties-panel UMD bundle exports its modules and `useService`
   but not the components of @bpmn-io/properties-panel (TextFieldEntry, ...), and that
   package ships no browser build. The GMP entries are therefore small function
   components rendered by the panel's own (bundled) Preact: `vnode` below builds element
   nodes in the shape of Preact 10's createElement (the version inside the vendored
   bundle), with the panel's CSS classes, so the entries look and behave like the
   built-in ones. Edits go through `modeling.updateProperties` (one undoable command). */
(function () {
  "use strict";
  var root = document.getElementById("modeler");
  if (!root || !window.BpmnJS) { return; }
  var status = document.getElementById("modeler-status");
  var labels = JSON.parse(root.getAttribute("data-gmp-labels") || "{}");
  var I18N = "http://www.omg.org/spec/BPMN/non-normative/extensions/i18n/1.0";
  var choices = {};
  var spiff = {
    name: "SpiffWorkflow", uri: "http://spiffworkflow.org/bpmn/schema/1.0/core", prefix: "spiffworkflow",
    xml: { tagAlias: "lowerCase" },
    types: [
      { name: "Properties", superClass: ["Element"], properties: [{ name: "properties", type: "Property", isMany: true }] },
      { name: "Property", superClass: ["Element"], properties: [
        { name: "name", type: "String", isAttr: true }, { name: "value", type: "String", isAttr: true }] },
      { name: "ServiceTaskOperator", superClass: ["Element"], properties: [
        { name: "id", type: "String", isAttr: true }, { name: "resultVariable", type: "String", isAttr: true },
        { name: "parameterList", type: "Parameters" }] },
      { name: "Parameters", superClass: ["Element"], properties: [{ name: "parameters", type: "Parameter", isMany: true }] },
      { name: "Parameter", superClass: ["Element"], properties: [
        { name: "id", type: "String", isAttr: true }, { name: "type", type: "String", isAttr: true },
        { name: "value", type: "String", isAttr: true }] }
    ]
  };
  /* Which fields each element kind offers: the task properties of the engine runtime
     (web.library.gmp_fields; docs/bpmn-extensions.md). kind: single | list. */
  var gmpFields = JSON.parse(root.getAttribute("data-gmp-fields") || "[]");
  gmpFields.forEach(function (f) { labels[f.name] = f.label; });
  var TASK = gmpFields.map(function (f) { return [f.name, f.kind]; });
  var SERVICE_TASK = gmpFields.filter(function (f) { return f.service; }).map(function (f) { return [f.name, f.kind]; });
  var FIELDS = { "bpmn:UserTask": TASK, "bpmn:ManualTask": TASK, "bpmn:ServiceTask": SERVICE_TASK };

  var vnodeCount = 0;
  function vnode(type, props) {
    /* Preact 10 element vnode; the fractional __v never equals one of Preact's own ids. */
    vnodeCount += 1;
    return { type: type, props: props, key: undefined, ref: undefined, __k: null, __: null, __b: 0, __e: null,
      __d: undefined, __c: null, constructor: undefined, __v: vnodeCount + 0.5, __i: -1, __u: 0 };
  }

  /* ------------------------------------------------------------ spiffworkflow:property */
  function propertyHolder(bo) {
    /* A participant's GMP process properties live on its process. */
    return bo.$type === "bpmn:Participant" && bo.processRef ? bo.processRef : bo;
  }

  function propertiesOf(moddle, bo, create) {
    var ext = bo.extensionElements;
    if (!ext) {
      if (!create) { return null; }
      ext = moddle.create("bpmn:ExtensionElements", { values: [] });
      ext.$parent = bo;
    }
    var found = (ext.values || []).filter(function (v) { return v.$type === "spiffworkflow:Properties"; })[0];
    if (!found && create) {
      found = moddle.create("spiffworkflow:Properties", { properties: [] });
      found.$parent = ext;
      ext.values = (ext.values || []).concat([found]);
    }
    return found ? { ext: ext, props: found } : null;
  }

  function valueOf(bo, name) {
    var ext = bo.extensionElements;
    var props = ext ? (ext.values || []).filter(function (v) { return v.$type === "spiffworkflow:Properties"; })[0] : null;
    var match = props ? (props.properties || []).filter(function (p) { return p.name === name; })[0] : null;
    return match ? (match.value || "") : "";
  }

  function setValue(modeler, element, name, raw) {
    var moddle = modeler.get("moddle");
    var bo = propertyHolder(element.businessObject);
    var value = (raw || "").trim();
    if (value === valueOf(bo, name)) { return; }
    var found = propertiesOf(moddle, bo, true);
    var rest = (found.props.properties || []).filter(function (p) { return p.name !== name; });
    if (value) {
      var prop = moddle.create("spiffworkflow:Property", { name: name, value: value });
      prop.$parent = found.props;
      rest.push(prop);
    }
    found.props.properties = rest;
    if (bo === element.businessObject) {
      modeler.get("modeling").updateProperties(element, { extensionElements: found.ext });
    } else {
      modeler.get("modeling").updateModdleProperties(element, bo, { extensionElements: found.ext });
    }
  }

  /* ------------------------------------------------------------ i18n:translation (Chinese name) */
  function isTranslation(value, lang) {
    var ns = value && value.$descriptor && value.$descriptor.ns;
    if (!ns || ns.uri !== I18N || ns.localName !== "translation") { return false; }
    var attrs = value.$attrs || {};
    var code = (value["xml:lang"] || attrs["xml:lang"] || "").split("-")[0].toLowerCase();
    return !lang || code === lang;
  }

  function translationOf(bo, lang) {
    var ext = bo.extensionElements;
    var found = ext ? (ext.values || []).filter(function (v) { return isTranslation(v, lang); })[0] : null;
    return found ? (found.$body || "").trim() : "";
  }

  function setTranslation(modeler, element, lang, raw) {
    var moddle = modeler.get("moddle");
    var bo = propertyHolder(element.businessObject);
    var value = (raw || "").trim();
    if (value === translationOf(bo, lang)) { return; }
    var ext = bo.extensionElements;
    if (!ext) {
      ext = moddle.create("bpmn:ExtensionElements", { values: [] });
      ext.$parent = bo;
    }
    var rest = (ext.values || []).filter(function (v) { return !isTranslation(v, lang); });
    if (value) {
      var item = moddle.createAny("i18n:translation", I18N, { "xml:lang": lang });
      item.$body = value;
      item.$parent = ext;
      rest.push(item);
    }
    ext.values = rest;
    if (bo === element.businessObject) {
      modeler.get("modeling").updateProperties(element, { extensionElements: ext });
    } else {
      modeler.get("modeling").updateModdleProperties(element, bo, { extensionElements: ext });
    }
  }

  /* ------------------------------------------------------------ entries */
  function entryId(name) { return "gmp-" + name.replace(/[^A-Za-z0-9]/g, "-"); }

  function splitList(text) {
    return (text || "").split(",").map(function (s) { return s.trim(); }).filter(function (s) { return s; });
  }

  function options(kind, current, includeNone) {
    var list = (choices[kind] || []).slice();
    var out = [];
    if (includeNone) { out.push(vnode("option", { value: "", children: labels.none || "(none)" })); }
    var known = {};
    list.forEach(function (c) {
      known[c.value] = true;
      out.push(vnode("option", { value: c.value, children: c.label || c.value }));
    });
    if (current && !known[current]) {
      out.push(vnode("option", { value: current, children: current + " (" + (labels.unknown || "not in the list") + ")" }));
    }
    return out;
  }

  function label(inputId, text) {
    return vnode("label", { "for": inputId, "class": "bio-properties-panel-label", children: text });
  }

  function GmpSingle(props) {
    var id = entryId(props.property);
    var inputId = "bio-properties-panel-" + id;
    var current = props.read();
    return vnode("div", { "class": "bio-properties-panel-entry", "data-entry-id": id, children: [
      vnode("div", { "class": "bio-properties-panel-select", children: [
        label(inputId, props.label),
        vnode("select", { id: inputId, name: id, "class": "bio-properties-panel-input", "data-gmp-property": props.property,
          value: current, children: options(props.choiceKind, current, true),
          onChange: function (event) { props.write(event.target.value); } })
      ] })
    ] });
  }

  function GmpList(props) {
    var id = entryId(props.property);
    var inputId = "bio-properties-panel-" + id;
    var addId = inputId + "-add";
    var current = props.read();
    var chosen = splitList(current);
    var addable = (choices[props.choiceKind] || []).filter(function (c) { return chosen.indexOf(c.value) < 0; });
    var children = [
      label(inputId, props.label),
      vnode("input", { id: inputId, type: "text", name: id, spellcheck: "false", autocomplete: "off",
        "class": "bio-properties-panel-input", "data-gmp-property": props.property, value: current,
        onChange: function (event) { props.write(splitList(event.target.value).join(", ")); } })
    ];
    if (addable.length) {
      var opts = [vnode("option", { value: "", children: labels.add || "Add…" })].concat(addable.map(function (c) {
        return vnode("option", { value: c.value, children: c.label || c.value });
      }));
      children.push(vnode("select", { id: addId, "class": "bio-properties-panel-input gmp-add", "aria-label":
        labels.add || "Add…", title: props.label, "data-gmp-add": props.property, value: "", children: opts,
        onChange: function (event) {
          var value = event.target.value;
          if (!value) { return; }
          props.write(chosen.concat([value]).join(", "));
        } }));
    }
    return vnode("div", { "class": "bio-properties-panel-entry", "data-entry-id": id, children: [
      vnode("div", { "class": "bio-properties-panel-textfield", children: children })] });
  }

  function GmpText(props) {
    var id = entryId(props.property);
    var inputId = "bio-properties-panel-" + id;
    return vnode("div", { "class": "bio-properties-panel-entry", "data-entry-id": id, children: [
      vnode("div", { "class": "bio-properties-panel-textfield", children: [
        label(inputId, props.label),
        vnode("input", { id: inputId, type: "text", name: id, spellcheck: "false", autocomplete: "off", lang: "zh-CN",
          "class": "bio-properties-panel-input", "data-gmp-property": props.property, value: props.read(),
          onChange: function (event) { props.write(event.target.value); } })
      ] })
    ] });
  }

  function isEdited(node) { return !!(node && node.value); }

  function propertyEntry(modeler, element, name, kind) {
    var bo = propertyHolder(element.businessObject);
    return { id: entryId(name), component: kind === "list" ? GmpList : GmpSingle, isEdited: isEdited,
      property: name, label: labels[name] || name, choiceKind: name,
      read: function () { return valueOf(bo, name); },
      write: function (value) { setValue(modeler, element, name, value); } };
  }

  function GmpPropertiesProvider(propertiesPanel, injector) {
    this._modeler = injector.get("bpmnjs");
    propertiesPanel.registerProvider(500, this);
  }
  GmpPropertiesProvider.$inject = ["propertiesPanel", "injector"];
  GmpPropertiesProvider.prototype.getGroups = function (element) {
    var modeler = this._modeler;
    return function (groups) {
      var bo = element && element.businessObject;
      if (!bo) { return groups; }
      var entries = (FIELDS[bo.$type] || []).map(function (f) { return propertyEntry(modeler, element, f[0], f[1]); });
      if (bo.$type === "bpmn:Lane") {
        entries.push({ id: entryId("lane"), component: GmpSingle, isEdited: isEdited, property: "lane",
          label: labels.lane || "Role of the lane", choiceKind: "lane",
          read: function () { return bo.name || ""; },
          write: function (value) { modeler.get("modeling").updateProperties(element, { name: value }); } });
      }
      if (bo.$type === "bpmn:Process" || (bo.$type === "bpmn:Participant" && bo.processRef)) {
        entries.push(propertyEntry(modeler, element, "starter.roles", "list"));
      }
      if (bo.$type !== "bpmn:Collaboration") {
        entries.push({ id: entryId("name.zh"), component: GmpText, isEdited: isEdited, property: "name.zh",
          label: labels["name.zh"] || "Chinese name",
          read: function () { return translationOf(propertyHolder(bo), "zh"); },
          write: function (value) { setTranslation(modeler, element, "zh", value); } });
      }
      if (entries.length) { groups.push({ id: "gmp", label: labels.group || "GMP", shouldOpen: true, entries: entries }); }
      return groups;
    };
  };
  var gmpPropertiesModule = { __init__: ["gmpPropertiesProvider"], gmpPropertiesProvider: ["type", GmpPropertiesProvider] };

  var panel = window.BpmnJSPropertiesPanel || {};
  var modeler = new window.BpmnJS({
    container: "#canvas",
    propertiesPanel: { parent: "#properties" },
    additionalModules: [panel.BpmnPropertiesPanelModule, panel.BpmnPropertiesProviderModule, gmpPropertiesModule],
    moddleExtensions: { spiffworkflow: spiff }
  });
  window.gmpModeler = modeler;

  /* ------------------------------------------------------------ problems on the elements */
  var problems = JSON.parse(root.getAttribute("data-problems") || "[]");
  var markedIds = [];

  function findElement(id) {
    /* The shape of an element id; a process in a collaboration is shown by its pool. */
    if (!id) { return null; }
    var registry = modeler.get("elementRegistry");
    return registry.get(id) || registry.filter(function (e) {
      return e.businessObject && e.businessObject.processRef && e.businessObject.processRef.id === id;
    })[0] || null;
  }

  function elementName(problem) {
    if (problem.name) { return problem.name; }
    var element = findElement(problem.element_id);
    var bo = element && element.businessObject;
    if (bo && bo.name) { return bo.name; }
    return problem.element_id ? (labels.unnamed || "unnamed element") + " (" + problem.element_id + ")" : "";
  }

  function showProblems() {
    var canvas = modeler.get("canvas");
    var overlays = modeler.get("overlays");
    var registry = modeler.get("elementRegistry");
    markedIds.forEach(function (id) { if (registry.get(id)) { canvas.removeMarker(id, "gmp-problem"); } });
    overlays.remove({ type: "gmp-problem" });
    markedIds = [];
    var list = document.getElementById("problem-list");
    list.textContent = "";
    document.getElementById("problem-count").textContent = String(problems.length);
    root.setAttribute("data-problem-count", String(problems.length));
    if (!problems.length) {
      var ok = document.createElement("li");
      ok.className = "no-problems";
      ok.textContent = labels.noProblems || "No problems.";
      list.appendChild(ok);
    }
    var perElement = {};
    problems.forEach(function (problem) {
      var item = document.createElement("li");
      var element = findElement(problem.element_id);
      var name = elementName(problem);
      var button = document.createElement(element ? "button" : "span");
      if (element) {
        button.type = "button";
        button.className = "problem-link";
        button.setAttribute("data-element-id", problem.element_id);
        button.addEventListener("click", function () {
          modeler.get("selection").select(element);
          if (canvas.scrollToElement) { canvas.scrollToElement(element); }
        });
      }
      if (name) {
        var strong = document.createElement("strong");
        strong.textContent = name;
        button.appendChild(strong);
        button.appendChild(document.createTextNode(": "));
      }
      button.appendChild(document.createTextNode(problem.message));
      item.appendChild(button);
      list.appendChild(item);
      if (element && element.type !== "label") {
        canvas.addMarker(element.id, "gmp-problem");
        markedIds.push(element.id);
        perElement[element.id] = (perElement[element.id] || []).concat([problem.message]);
      }
    });
    Object.keys(perElement).forEach(function (id) {
      var badge = document.createElement("div");
      badge.className = "gmp-problem-badge";
      badge.setAttribute("data-problem-for", id);
      badge.title = perElement[id].join("\n");
      badge.textContent = "!";
      try { overlays.add(id, "gmp-problem", { position: { top: -10, right: 10 }, html: badge }); } catch (e) { /* no shape */ }
    });
  }

  /* ------------------------------------------------------------ load */
  function fitBesidePalette(canvas) {
    /* The whole diagram in view, never larger than 100 %, left of it the room the palette takes. */
    var palette = 150;
    var vb = canvas.viewbox();
    var inner = vb.inner;
    var outer = vb.outer;
    if (!inner.width || !inner.height) { return; }
    var scale = Math.min(1, (outer.width - palette - 30) / inner.width, (outer.height - 40) / inner.height);
    var width = outer.width / scale;
    var height = outer.height / scale;
    canvas.viewbox({ x: inner.x - (palette + 10) / scale, y: inner.y - (height - inner.height) / 2,
      width: width, height: height });
  }

  var choicesLoaded = fetch(root.getAttribute("data-choices"), { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : {}; })
    .then(function (data) { choices = data || {}; })
    .catch(function () { choices = {}; });

  Promise.all([choicesLoaded, fetch(root.getAttribute("data-source"), { credentials: "same-origin" })
    .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.text(); })])
    .then(function (results) { return modeler.importXML(results[1]); })
    .then(function () {
      fitBesidePalette(modeler.get("canvas"));
      showProblems();
      root.setAttribute("data-ready", "true");
    })
    .catch(function (error) { status.textContent = (labels.openFailed || "The diagram could not be opened:") + " " + error; });

  /* ------------------------------------------------------------ save and submit */
  var saveForm = document.getElementById("modeler-save");
  var submitForm = document.getElementById("modeler-submit");
  var dirty = false;
  modeler.on("commandStack.changed", function () {
    dirty = true;
    root.setAttribute("data-dirty", "true");
  });

  function say(text, isError) {
    status.textContent = text;
    status.className = "modeler-message" + (isError ? " flash flash-error" : (text ? " flash" : ""));
    status.setAttribute("role", isError ? "alert" : "status");
  }

  function post(form, extra) {
    var data = new FormData(form);
    Object.keys(extra || {}).forEach(function (k) { data.set(k, extra[k]); });
    return fetch(form.getAttribute("action"), { method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": data.get("csrf_token") } })
      .then(function (response) {
        return response.json().catch(function () { return { ok: false, message: String(response.status) }; })
          .then(function (body) { body.httpOk = response.ok; return body; });
      });
  }

  saveForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!saveForm.reportValidity()) { return; }
    var button = saveForm.querySelector("button");
    button.disabled = true;
    say(labels.saving || "Saving…", false);
    modeler.saveXML({ format: true })
      .then(function (result) { return post(saveForm, { content: result.xml }); })
      .then(function (body) {
        if (!body.httpOk || !body.ok) { say(body.message || String(body.status), true); return; }
        dirty = false;
        root.setAttribute("data-dirty", "false");
        root.setAttribute("data-saved-version", String(body.version));
        saveForm.setAttribute("action", body.save);
        submitForm.setAttribute("action", body.submit);
        submitForm.hidden = false;
        document.getElementById("modeler-version").textContent = "v" + body.version;
        var badge = document.getElementById("modeler-status-badge");
        badge.setAttribute("data-status", "draft");
        badge.textContent = labels.status_draft || "draft";
        window.history.replaceState(null, "", body.modeler);
        document.getElementById("modeler-reason").value = "";
        problems = body.problems || [];
        showProblems();
        Array.prototype.forEach.call(document.querySelectorAll("main > .flash:not(#modeler-status)"), function (old) { old.remove(); });
        say(body.message, false);
      })
      .catch(function (error) { say(String(error), true); })
      .then(function () { button.disabled = false; });
  });

  submitForm.addEventListener("submit", function (event) {
    event.preventDefault();
    if (dirty) { say(labels.saveFirst || "Save your changes first.", true); return; }
    say(labels.submitting || "Submitting…", false);
    post(submitForm, {}).then(function (body) {
      say(body.message || String(body.status), !(body.httpOk && body.ok));
      if (body.httpOk && body.ok) {
        submitForm.hidden = true;
        var submitted = document.getElementById("modeler-status-badge");
        submitted.setAttribute("data-status", "submitted");
        submitted.textContent = labels.status_submitted || "submitted";
        root.setAttribute("data-submitted", "true");
      }
    }).catch(function (error) { say(String(error), true); });
  });

  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = labels.unsaved || "Unsaved changes"; }
  });
})();
