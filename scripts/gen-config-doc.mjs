#!/usr/bin/env node
// Regenerates the key tables in docs/config.md from the schema (src/config/schema.ts, compiled).
// Usage: npm run build && node scripts/gen-config-doc.mjs   (--check: exit 1 if the doc is stale)
import { readFileSync, writeFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const { SCHEMA } = await import(new URL('../dist/src/config/schema.js', import.meta.url).href);
const docPath = `${root}docs/config.md`;
const BEGIN = '<!-- BEGIN GENERATED KEY TABLES (scripts/gen-config-doc.mjs) -->';
const END = '<!-- END GENERATED KEY TABLES -->';

const TITLES = {
  program: '[program:NAME]',
  'fcgi-program': '[fcgi-program:NAME] — every [program:NAME] key, plus',
  eventlistener: '[eventlistener:NAME] (every [program:NAME] key, and these)',
  group: '[group:NAME]',
  supervisord: '[supervisord] (also spelled [drover])',
  unix_http_server: '[unix_http_server]',
  inet_http_server: '[inet_http_server]',
  supervisorctl: '[supervisorctl]',
  include: '[include]',
  socket: '[socket:NAME] (drover: listening sockets bound by the master)',
};

const cell = (s) => String(s).replace(/\|/g, '\\|');
// text printed under a section's table
const NOTES = {
  program: [
    'A `worker =` program (a Node worker pool) has other defaults: `process_name` `%(program_name)s_%(process_num)d`',
    '(`web_0`), `autorestart` `true`, `stopwaitsecs` taken from `graceful_timeout` (30 s), and `stopasgroup` and',
    '`killasgroup` always on (either set to `false` warns in `check` and `up` that it has no effect: a worker\'s',
    'children must not outlive it holding its socket); it is ready when it sends its "ready" message, not after',
    '`startsecs` (docs/decisions.md, "Defaults for `worker =` programs"). `drover check --json` shows the values',
    'it gets.',
  ],
};

const out = [BEGIN, ''];
for (const [kind, title] of Object.entries(TITLES)) {
  out.push(`### ${title}`, '', '| key | type | default | meaning |', '|---|---|---|---|');
  for (const [key, spec] of Object.entries(SCHEMA[kind])) {
    // sections built on [program:x] list only what they add or change
    if (kind !== 'program' && SCHEMA.program[key] === spec) continue;
    const def = spec.defaultDoc ?? (spec.default === null ? '(unset)' : spec.default === '' ? '(empty)' : `\`${spec.default}\``);
    const name = spec.drover ? `\`${key}\` (drover)` : `\`${key}\``;
    out.push(`| ${name} | ${cell(spec.type)} | ${cell(def)} | ${cell(spec.doc)} |`);
  }
  out.push('');
  if (NOTES[kind]) out.push(...NOTES[kind], '');
}
out.push(END);

const doc = readFileSync(docPath, 'utf8');
const start = doc.indexOf(BEGIN);
const end = doc.indexOf(END);
if (start < 0 || end < 0) throw new Error(`${docPath}: generated-table markers not found`);
const next = doc.slice(0, start) + out.join('\n') + doc.slice(end + END.length);
if (process.argv.includes('--check')) {
  if (next !== doc) {
    console.error('docs/config.md is stale: run node scripts/gen-config-doc.mjs');
    process.exit(1);
  }
} else {
  writeFileSync(docPath, next);
}
