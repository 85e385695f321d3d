#!/usr/bin/env node
/*
 * bpmnlint (the version pinned in package.json) over the BPMN files named on the command
 * line, with the configuration in .bpmnlintrc beside this script (bpmnlint:recommended).
 * Prints one JSON object: {"version": "...", "files": {"<path>": [{"rule", "id", "message",
 * "category"}]}}. Parse errors and import warnings are findings too (rule "import"), as in
 * bpmnlint's own command line. Exit status 0 when it ran, whatever it found; 2 on usage errors.
 */
'use strict';

const { readFileSync } = require('node:fs');
const { join } = require('node:path');

const { BpmnModdle } = require('bpmn-moddle');
const Linter = require('bpmnlint/lib/linter');
const NodeResolver = require('bpmnlint/lib/resolver/node-resolver');

const config = JSON.parse(readFileSync(join(__dirname, '.bpmnlintrc'), 'utf-8'));
const version = require('bpmnlint/package.json').version;

async function lintFile(path) {
  const findings = [];
  let parsed;
  try {
    parsed = await new BpmnModdle().fromXML(readFileSync(path, 'utf-8'));
  } catch (error) {
    findings.push({ rule: 'import', id: '', message: 'Parse error: ' + error.message.split(/\n/)[0],
      category: 'error' });
    return findings;
  }
  for (const warning of parsed.warnings || []) {
    findings.push({ rule: 'import', id: (warning.element && warning.element.id) || '',
      message: 'Import warning: ' + warning.message.split(/\n/)[0], category: 'error' });
  }
  // a linter per file: some rules keep what they saw between runs
  const linter = new Linter({ config, resolver: new NodeResolver() });
  const reports = await linter.lint(parsed.rootElement);
  for (const [ rule, items ] of Object.entries(reports)) {
    for (const item of items) {
      findings.push({ rule: item.name || rule, id: item.id || '', message: item.message,
        category: item.category === 'warn' ? 'warning' : item.category });
    }
  }
  return findings;
}

async function main(paths) {
  if (!paths.length) {
    console.error('usage: lint.js FILE.bpmn...');
    process.exit(2);
  }
  const files = {};
  for (const path of paths) {
    files[path] = await lintFile(path);
  }
  process.stdout.write(JSON.stringify({ version, files }) + '\n');
}

main(process.argv.slice(2)).catch(function(error) {
  console.error(error);
  process.exit(1);
});
