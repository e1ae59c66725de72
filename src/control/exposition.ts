// Prometheus's text exposition format, version 0.0.4: what /metrics answers (docs/api.md). A family is
// `# HELP`, `# TYPE` and one line per series; families are separated by a blank line. drover writes it
// itself: the label-hashing registry of a client library took ~300 ms and made tens of MB of garbage per
// scrape with 1000 programs (docs/dependencies.md).

/** The content type of the text format. */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type FamilyType = 'gauge' | 'counter';

/**
 * Writes families straight into one growing Buffer, so that a scrape of 1000 processes leaves only
 * short-lived strings behind (a list of lines kept to the end would be promoted to V8's old generation
 * and held there until a full collection).
 */
export class ExpositionWriter {
  private buf: Buffer;
  private at = 0;
  private name = '';

  /** `sizeHint`: the bytes expected (the last scrape's size), so the buffer is seldom copied */
  constructor(sizeHint = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(Math.max(1024, sizeHint));
  }

  /** Starts a family: its `# HELP` and `# TYPE` lines, after a blank line when one came before. */
  family(name: string, type: FamilyType, help: string): void {
    this.write(`${this.at === 0 ? '' : '\n'}# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`);
    this.name = name;
  }

  /** A series of the current family; `labels` is braced label text from labelText() ('' for none). */
  sample(labels: string, value: number): void {
    this.write(`${this.name}${labels} ${formatValue(value)}\n`);
  }

  /** The text written (a view of the buffer). */
  finish(): Buffer {
    return this.buf.subarray(0, this.at);
  }

  private write(text: string): void {
    const most = text.length * 3;
    if (this.at + most > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + most));
      this.buf.copy(bigger, 0, 0, this.at);
      this.buf = bigger;
    }
    this.at += this.buf.write(text, this.at);
  }
}

/**
 * A writer of families that have one series per item of `items`, labelled by `labels(item)` (braced label
 * text), valued by the `pick` each call gives.
 */
export function familiesOver<T>(w: ExpositionWriter, items: Iterable<T>, labels: (item: T) => string): (type: FamilyType, name: string, help: string, pick: (item: T) => number) => void {
  return (type, name, help, pick) => {
    w.family(name, type, help);
    for (const item of items) w.sample(labels(item), pick(item));
  };
}

/** `name="value",…` for the given labels, in their order, values escaped; without braces ('' for none). */
export function labelPairs(labels: Readonly<Record<string, string>>): string {
  let text = '';
  for (const [name, value] of Object.entries(labels)) text += `${text === '' ? '' : ','}${name}="${escapeLabelValue(value)}"`;
  return text;
}

/** `{name="value",…}`, or '' for no labels. */
export function labelText(labels: Readonly<Record<string, string>>): string {
  const pairs = labelPairs(labels);
  return pairs === '' ? '' : `{${pairs}}`;
}

/** A sample value as the format writes it: NaN, +Inf and -Inf by name, a finite number in JavaScript's shortest form. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** A label value: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return /[\\"\n]/.test(value) ? value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"') : value;
}

/** HELP text: backslash and line feed escaped. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
