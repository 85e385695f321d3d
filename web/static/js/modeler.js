/* bpmn-js modeler with its properties panel, extended with a "GMP" group that edits our
   extension properties (spiffworkflow:properties / spiffworkflow:property name value, see
   docs/bpmn-extensions.md) on user tasks and service tasks. Saving posts the XML as a new
   draft.

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
  /* Which GMP properties each task kind offers (docs/bpmn-extensions.md). */
  var USER_TASK = ["formJsonSchemaFilename", "formUiSchemaFilename", "signature.meaning", "signature.verifier",
    "gates", "qualification.sops", "equipment"];
  var SERVICE_TASK = ["gates", "qualification.sops", "equipment"];
  var FIELDS = { "bpmn:UserTask": USER_TASK, "bpmn:ServiceTask": SERVICE_TASK };

  var vnodeCount = 0;
  function vnode(type, props) {
    /* Preact 10 element vnode; the fractional __v never equals one of Preact's own ids. */
    vnodeCount += 1;
    return { type: type, props: props, key: undefined, ref: undefined, __k: null, __: null, __b: 0, __e: null,
      __d: undefined, __c: null, constructor: undefined, __v: vnodeCount + 0.5, __i: -1, __u: 0 };
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
    var bo = element.businessObject;
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
    modeler.get("modeling").updateProperties(element, { extensionElements: found.ext });
  }

  function entryId(name) { return "gmp-" + name.replace(/[^A-Za-z0-9]/g, "-"); }

  function GmpTextField(props) {
    var id = entryId(props.property);
    var inputId = "bio-properties-panel-" + id;
    return vnode("div", { "class": "bio-properties-panel-entry", "data-entry-id": id, children: [
      vnode("div", { "class": "bio-properties-panel-textfield", children: [
        vnode("label", { "for": inputId, "class": "bio-properties-panel-label", children: props.label }),
        vnode("input", { id: inputId, type: "text", name: id, spellcheck: "false", autocomplete: "off",
          "class": "bio-properties-panel-input", "data-gmp-property": props.property,
          value: valueOf(props.element.businessObject, props.property),
          onChange: function (event) { setValue(props.modeler, props.element, props.property, event.target.value); } })
      ] })
    ] });
  }

  function isEdited(node) { return !!(node && node.value); }

  function GmpPropertiesProvider(propertiesPanel, injector) {
    this._modeler = injector.get("bpmnjs");
    propertiesPanel.registerProvider(500, this);
  }
  GmpPropertiesProvider.$inject = ["propertiesPanel", "injector"];
  GmpPropertiesProvider.prototype.getGroups = function (element) {
    var modeler = this._modeler;
    return function (groups) {
      var bo = element && element.businessObject;
      var names = bo ? FIELDS[bo.$type] : null;
      if (!names) { return groups; }
      groups.push({
        id: "gmp", label: labels.group || "GMP", shouldOpen: true,
        entries: names.map(function (name) {
          return { id: entryId(name), component: GmpTextField, isEdited: isEdited, property: name,
            label: labels[name] || name, modeler: modeler };
        })
      });
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

  fetch(root.getAttribute("data-source"), { credentials: "same-origin" })
    .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.text(); })
    .then(function (xml) { return modeler.importXML(xml); })
    .then(function () { modeler.get("canvas").zoom("fit-viewport"); root.setAttribute("data-ready", "true"); })
    .catch(function (error) { status.textContent = "The diagram could not be opened: " + error; });

  document.getElementById("modeler-save").addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("data-xml-ready") === "true") { return; }
    event.preventDefault();
    modeler.saveXML({ format: true }).then(function (result) {
      document.getElementById("modeler-content").value = result.xml;
      form.setAttribute("data-xml-ready", "true");
      HTMLFormElement.prototype.submit.call(form);
    });
  });
})();
