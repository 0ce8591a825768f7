#!/usr/bin/env node
// Validates a JSON document against a JSON Schema, for the subset of keywords facelens's schemas
// use (docs/*.schema.json): type, const, enum, required, properties, additionalProperties, items,
// minItems, maxItems, minimum, minLength, pattern, $ref to "#/$defs/NAME". A keyword outside that
// subset is an error, so that a schema never passes on rules nobody checks.
//   node json_schema_check.js SCHEMA.json DOCUMENT.json
'use strict';
const fs = require('fs');

const ANNOTATIONS = new Set(['$schema', '$id', 'title', 'description', '$defs']);
const SUPPORTED = new Set(['type', 'const', 'enum', 'required', 'properties', 'additionalProperties', 'items',
  'minItems', 'maxItems', 'minimum', 'minLength', 'pattern', '$ref']);

function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(v, t) {
  const actual = typeOf(v);
  return actual === t || (t === 'number' && actual === 'integer');
}

function validate(schema, value, root, path, errors) {
  if (schema === true) return;
  if (schema === false) { errors.push(`${path}: no value allowed here`); return; }
  for (const k of Object.keys(schema)) {
    if (!SUPPORTED.has(k) && !ANNOTATIONS.has(k)) throw new Error(`schema keyword "${k}" at ${path} is not supported by this validator`);
  }
  if (schema.$ref !== undefined) {
    const m = /^#\/\$defs\/(.+)$/.exec(schema.$ref);
    if (!m || !root.$defs || !(m[1] in root.$defs)) throw new Error(`unresolvable $ref ${schema.$ref} at ${path}`);
    validate(root.$defs[m[1]], value, root, path, errors);
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeMatches(value, t))) {
      errors.push(`${path}: expected ${types.join(' or ')}, got ${typeOf(value)}`);
      return;
    }
  }
  if ('const' in schema && JSON.stringify(value) !== JSON.stringify(schema.const))
    errors.push(`${path}: expected ${JSON.stringify(schema.const)}, got ${JSON.stringify(value)}`);
  if (schema.enum !== undefined && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value)))
    errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  const t = typeOf(value);
  if ((t === 'number' || t === 'integer') && schema.minimum !== undefined && value < schema.minimum)
    errors.push(`${path}: ${value} is below the minimum ${schema.minimum}`);
  if (t === 'string') {
    if (schema.minLength !== undefined && value.length < schema.minLength)
      errors.push(`${path}: string shorter than ${schema.minLength}`);
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value))
      errors.push(`${path}: ${JSON.stringify(value)} does not match /${schema.pattern}/`);
  }
  if (t === 'array') {
    if (schema.minItems !== undefined && value.length < schema.minItems)
      errors.push(`${path}: ${value.length} items, expected at least ${schema.minItems}`);
    if (schema.maxItems !== undefined && value.length > schema.maxItems)
      errors.push(`${path}: ${value.length} items, expected at most ${schema.maxItems}`);
    if (schema.items !== undefined) value.forEach((v, i) => validate(schema.items, v, root, `${path}[${i}]`, errors));
  }
  if (t === 'object') {
    for (const r of schema.required || [])
      if (!(r in value)) errors.push(`${path}: missing required property "${r}"`);
    const props = schema.properties || {};
    for (const [k, v] of Object.entries(value)) {
      if (k in props) validate(props[k], v, root, `${path}.${k}`, errors);
      else if (schema.additionalProperties === false) errors.push(`${path}: unexpected property "${k}"`);
      else if (typeof schema.additionalProperties === 'object') validate(schema.additionalProperties, v, root, `${path}.${k}`, errors);
    }
  }
}

function main() {
  if (process.argv.length !== 4) {
    console.error('usage: json_schema_check.js SCHEMA.json DOCUMENT.json');
    process.exit(2);
  }
  const schema = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const doc = JSON.parse(fs.readFileSync(process.argv[3], 'utf8'));
  const errors = [];
  validate(schema, doc, schema, '$', errors);
  if (errors.length) {
    console.error(`${process.argv[3]} does not match ${process.argv[2]}:`);
    for (const e of errors.slice(0, 50)) console.error('  ' + e);
    process.exit(1);
  }
  console.log(`${process.argv[3]} matches ${process.argv[2]}`);
}

if (require.main === module) main();
module.exports = { validate };
