// The text exposition writer behind /metrics (src/control/exposition.ts), read back with an independent
// Prometheus text-format parser: escaping, special values, empty families, and a buffer that grows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { ExpositionWriter, formatValue, labelText } from '../../../src/control/exposition.js';

test('families, labels with every character that needs escaping, and special values read back as written', () => {
  const w = new ExpositionWriter(1024);
  w.family('t_info', 'gauge', 'Help with a backslash \\ and a\nline feed.');
  w.sample(labelText({ path: 'C:\\dir', quote: 'say "hi"', nl: 'two\nlines', utf8: 'naïve → ok' }), 1);
  w.family('t_empty_total', 'counter', 'No series at all.');
  w.family('t_values', 'gauge', 'Special values.');
  w.sample(labelText({ v: 'nan' }), NaN);
  w.sample(labelText({ v: 'inf' }), Infinity);
  w.sample(labelText({ v: 'minf' }), -Infinity);
  w.sample(labelText({ v: 'small' }), 1.5e-7);
  w.sample('', 42);
  const text = w.finish().toString('utf8');
  assert.ok(text.endsWith('\n') && !text.endsWith('\n\n'), JSON.stringify(text.slice(-20)));
  assert.match(text, /^# HELP t_info Help with a backslash \\\\ and a\\nline feed\.\n# TYPE t_info gauge\n/);
  assert.match(text, /\n\n# HELP t_empty_total No series at all\.\n# TYPE t_empty_total counter\n\n# HELP t_values/);
  const parsed = parsePrometheusTextFormat(text);
  assert.deepEqual(
    parsed.map((f) => [f.name, f.type, f.metrics.length]),
    [
      ['t_info', 'GAUGE', 1],
      ['t_empty_total', 'COUNTER', 0],
      ['t_values', 'GAUGE', 5],
    ],
  );
  assert.deepEqual(parsed[0]?.metrics[0]?.labels, { path: 'C:\\dir', quote: 'say "hi"', nl: 'two\nlines', utf8: 'naïve → ok' });
  assert.deepEqual(
    parsed[2]?.metrics.map((m) => m.value),
    ['NaN', '+Inf', '-Inf', '1.5e-7', '42'],
  );
  assert.equal(formatValue(0.1 + 0.2), '0.30000000000000004');
});

test('a text far larger than the size hint is written whole', () => {
  const w = new ExpositionWriter(1024);
  w.family('t_many', 'gauge', 'Many series.');
  const n = 20_000;
  for (let i = 0; i < n; i++) w.sample(labelText({ name: `p${i}:p${i}`, group: `p${i}`, process: `é${i}` }), i);
  const parsed = parsePrometheusTextFormat(w.finish().toString('utf8'));
  assert.equal(parsed[0]?.metrics.length, n);
  assert.deepEqual(parsed[0]?.metrics[n - 1], { value: String(n - 1), labels: { name: `p${n - 1}:p${n - 1}`, group: `p${n - 1}`, process: `é${n - 1}` } });
});
