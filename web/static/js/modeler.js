/* bpmn-js modeler with the properties panel and a panel for our extension properties
   (spiffworkflow:properties on user tasks). Saving posts the XML as a new draft. */
(function () {
  "use strict";
  var root = document.getElementById("modeler");
  if (!root || !window.BpmnJS) { return; }
  var status = document.getElementById("modeler-status");
  var spiff = {
    name: "SpiffWorkflow", uri: "http://spiffworkflow.org/bpmn/schema/1.0/core", prefix: "spiffworkflow",
    xml: { tagAlias: "lowerCase" },
    types: [
      { name: "Properties", superClass: ["Element"], properties: [{ name: "properties", type: "Property", isMany: true }] },
      { name: "Property", superClass: ["Element"], properties: [
        { name: "name", type: "String", isAttr: true }, { name: "value", type: "String", isAttr: true }] }
    ]
  };
  var panel = window.BpmnJSPropertiesPanel || {};
  var modules = [];
  if (panel.BpmnPropertiesPanelModule) { modules.push(panel.BpmnPropertiesPanelModule, panel.BpmnPropertiesProviderModule); }
  var modeler = new window.BpmnJS({
    container: "#canvas",
    propertiesPanel: { parent: "#properties" }, additionalModules: modules, moddleExtensions: { spiffworkflow: spiff }
  });
  window.gmpModeler = modeler;
  var moddle = modeler.get("moddle");
  var modeling = modeler.get("modeling");
  var gmpPanel = document.getElementById("gmp-properties");
  var inputs = gmpPanel.querySelectorAll("[data-gmp-property]");
  var selected = null;

  function propertiesOf(bo, create) {
    var ext = bo.extensionElements;
    if (!ext) {
      if (!create) { return null; }
      ext = moddle.create("bpmn:ExtensionElements", { values: [] });
      ext.$parent = bo;
      bo.extensionElements = ext;
    }
    var found = (ext.values || []).filter(function (v) { return v.$type === "spiffworkflow:Properties"; })[0];
    if (!found && create) {
      found = moddle.create("spiffworkflow:Properties", { properties: [] });
      found.$parent = ext;
      ext.values = (ext.values || []).concat([found]);
    }
    return found || null;
  }

  function show(element) {
    selected = element && element.businessObject && element.businessObject.$type === "bpmn:UserTask" ? element : null;
    gmpPanel.hidden = !selected;
    if (!selected) { return; }
    var props = propertiesOf(selected.businessObject, false);
    inputs.forEach(function (input) {
      var name = input.getAttribute("data-gmp-property");
      var match = props ? (props.properties || []).filter(function (p) { return p.name === name; })[0] : null;
      input.value = match ? (match.value || "") : "";
    });
  }

  inputs.forEach(function (input) {
    input.addEventListener("change", function () {
      if (!selected) { return; }
      var bo = selected.businessObject;
      var props = propertiesOf(bo, true);
      var name = input.getAttribute("data-gmp-property");
      var rest = (props.properties || []).filter(function (p) { return p.name !== name; });
      if (input.value.trim()) {
        var prop = moddle.create("spiffworkflow:Property", { name: name, value: input.value.trim() });
        prop.$parent = props;
        rest.push(prop);
      }
      props.properties = rest;
      modeling.updateProperties(selected, { extensionElements: bo.extensionElements });
    });
  });

  modeler.on("selection.changed", function (event) { show(event.newSelection[0]); });

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
