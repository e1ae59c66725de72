// A strict, small XML reader for XML-RPC bodies. It knows elements, attributes (read and ignored), character
// data, CDATA, comments, the five predefined entities and character references — and nothing else: a
// DOCTYPE, an entity declaration or an unknown entity is an error, so no entity expansion ("billion laughs")
// or external entity can happen. Depth and element count are capped so a hostile body cannot exhaust the
// stack or memory; the body size itself is capped by the control server.
import { DroverError, InvariantError } from '../../errors.js';

/** One element: its name, its child elements, and its own character data (CDATA included) concatenated. */
export interface XmlElement {
  readonly name: string;
  readonly children: XmlElement[];
  readonly text: string;
}

export interface XmlLimits {
  /** deepest element nesting accepted (the root is depth 1) */
  readonly maxDepth: number;
  /** most elements accepted in one document */
  readonly maxElements: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = { maxDepth: 48, maxElements: 200_000 };

/** The body is not well-formed XML (or uses a construct this reader refuses). */
export class XmlSyntaxError extends DroverError {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super('E_XML_SYNTAX', `${message} at offset ${offset}`);
  }
}

const NAME = /[A-Za-z_:\u00C0-\uFFFF][-A-Za-z0-9._:\u00B7\u00C0-\uFFFF]*/y;
const WS = /[ \t\r\n]*/y;
// <?xml version="1.0" encoding="..." standalone="..."?>: pseudo-attributes with plain quoted values only
const XML_DECL = /<\?xml(?:[ \t\r\n]+[A-Za-z]+[ \t\r\n]*=[ \t\r\n]*(?:"[-A-Za-z0-9._ ]*"|'[-A-Za-z0-9._ ]*'))*[ \t\r\n]*\?>/y;
const PREDEFINED: Readonly<Record<string, string>> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
// Characters XML 1.0 forbids even as references: C0 controls other than tab, LF, CR, and U+FFFE/U+FFFF.
const FORBIDDEN_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

/** Parses a whole document and returns its root element; throws XmlSyntaxError. */
export function parseXml(text: string, limits: XmlLimits = DEFAULT_XML_LIMITS): XmlElement {
  return new Reader(text, limits).document();
}

// --- internal ---

interface OpenElement {
  name: string;
  children: XmlElement[];
  text: string[];
}

class Reader {
  private pos = 0;
  private elements = 0;

  constructor(
    private readonly src: string,
    private readonly limits: XmlLimits,
  ) {}

  document(): XmlElement {
    if (this.src.charCodeAt(0) === 0xfeff) this.pos = 1;
    if (this.src.startsWith('<?xml', this.pos) && /[ \t\r\n?]/.test(this.src[this.pos + 5] ?? '')) {
      XML_DECL.lastIndex = this.pos;
      const m = XML_DECL.exec(this.src);
      if (!m) this.fail('malformed XML declaration');
      this.pos += m[0].length;
    }
    this.misc();
    if (this.src[this.pos] !== '<') this.fail(this.pos >= this.src.length ? 'no root element' : 'text before the root element');
    const root = this.element();
    this.misc();
    if (this.pos < this.src.length) this.fail('content after the root element');
    return root;
  }

  /** Whitespace and comments outside the root; anything else is refused. */
  private misc(): void {
    for (;;) {
      this.skipWs();
      if (this.src.startsWith('<!--', this.pos)) this.comment();
      else if (this.src.startsWith('<!', this.pos)) this.fail('DOCTYPE and declarations are not accepted');
      else if (this.src.startsWith('<?', this.pos)) this.fail('processing instructions are not accepted');
      else return;
    }
  }

  /** Reads one element and everything inside it, iteratively so that nesting never grows the JS stack. */
  private element(): XmlElement {
    const stack: OpenElement[] = [];
    // typed by assertion, not annotation: `close` sets it, and an annotated `= null` would make the
    // compiler treat it as null for good after the loop
    let root = null as XmlElement | null;
    const open = (): void => {
      this.pos += 1; // '<'
      const name = this.name();
      this.attributes();
      const selfClosing = this.src.startsWith('/>', this.pos);
      if (selfClosing) this.pos += 2;
      else if (this.src[this.pos] === '>') this.pos += 1;
      else this.fail(`malformed start tag <${name}`);
      this.elements += 1;
      if (this.elements > this.limits.maxElements) this.fail(`more than ${this.limits.maxElements} elements`);
      if (stack.length + 1 > this.limits.maxDepth) this.fail(`elements nested deeper than ${this.limits.maxDepth}`);
      const el: OpenElement = { name, children: [], text: [] };
      if (selfClosing) close(el);
      else stack.push(el);
    };
    const close = (el: OpenElement): void => {
      const done: XmlElement = { name: el.name, children: el.children, text: el.text.join('') };
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(done);
      else root = done;
    };
    open();
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as OpenElement;
      const lt = this.src.indexOf('<', this.pos);
      if (lt < 0) this.fail(`unclosed element <${top.name}>`);
      if (lt > this.pos) top.text.push(this.chars(this.pos, lt));
      this.pos = lt;
      if (this.src.startsWith('</', this.pos)) {
        this.pos += 2;
        const name = this.name();
        this.skipWs();
        if (this.src[this.pos] !== '>') this.fail(`malformed end tag </${name}`);
        this.pos += 1;
        if (name !== top.name) this.fail(`</${name}> does not close <${top.name}>`);
        stack.pop();
        close(top);
      } else if (this.src.startsWith('<!--', this.pos)) {
        this.comment();
      } else if (this.src.startsWith('<![CDATA[', this.pos)) {
        const end = this.src.indexOf(']]>', this.pos + 9);
        if (end < 0) this.fail('unterminated CDATA section');
        const data = this.src.slice(this.pos + 9, end);
        if (FORBIDDEN_CHAR.test(data)) this.fail('a character XML does not allow');
        top.text.push(data.replace(/\r\n?/g, '\n')); // line ends as in any character data (chars())
        this.pos = end + 3;
      } else if (this.src.startsWith('<!', this.pos) || this.src.startsWith('<?', this.pos)) {
        this.fail('declarations and processing instructions are not accepted inside elements');
      } else {
        open();
      }
    }
    if (root === null) throw new InvariantError('the XML reader left its element loop without a root');
    return root;
  }

  /**
   * Character data between `from` and `to`, line ends normalised and references replaced. A CR LF or a lone
   * CR is LF (XML 1.0, 2.11), as supervisord's parser reads it: Python's client sends a string's CR
   * unescaped. A `&#13;` is a CR still, decoded after.
   */
  private chars(from: number, to: number): string {
    let raw = this.src.slice(from, to);
    if (FORBIDDEN_CHAR.test(raw)) this.fail('a character XML does not allow', from);
    if (raw.includes('\r')) raw = raw.replace(/\r\n?/g, '\n');
    if (!raw.includes('&')) return raw;
    return this.decodeRefs(raw, from);
  }

  private decodeRefs(raw: string, base: number): string {
    const out: string[] = [];
    let i = 0;
    for (;;) {
      const amp = raw.indexOf('&', i);
      if (amp < 0) break;
      out.push(raw.slice(i, amp));
      const semi = raw.indexOf(';', amp);
      if (semi < 0 || semi - amp > 12) this.fail('malformed reference', base + amp);
      const ref = raw.slice(amp + 1, semi);
      out.push(this.reference(ref, base + amp));
      i = semi + 1;
    }
    out.push(raw.slice(i));
    return out.join('');
  }

  private reference(ref: string, at: number): string {
    const named = PREDEFINED[ref];
    if (named !== undefined && Object.hasOwn(PREDEFINED, ref)) return named;
    let code: number;
    if (/^#[0-9]{1,7}$/.test(ref)) code = Number(ref.slice(1));
    else if (/^#x[0-9A-Fa-f]{1,6}$/.test(ref)) code = Number.parseInt(ref.slice(2), 16);
    else return this.fail(`unknown entity &${ref}; (only the five predefined ones and character references are accepted)`, at);
    const ok =
      code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
    if (!ok) this.fail(`character reference &${ref}; names a character XML does not allow`, at);
    return String.fromCodePoint(code);
  }

  private attributes(): void {
    const seen = new Set<string>();
    for (;;) {
      const before = this.pos;
      this.skipWs();
      const c = this.src[this.pos];
      if (c === '>' || c === '/' || c === undefined) return;
      if (this.pos === before) this.fail('expected whitespace before an attribute');
      const name = this.name();
      if (seen.has(name)) this.fail(`duplicate attribute ${name}`);
      seen.add(name);
      this.skipWs();
      if (this.src[this.pos] !== '=') this.fail(`attribute ${name} has no value`);
      this.pos += 1;
      this.skipWs();
      const q = this.src[this.pos];
      if (q !== '"' && q !== "'") this.fail(`attribute ${name}: value must be quoted`);
      const end = this.src.indexOf(q, this.pos + 1);
      if (end < 0) this.fail(`attribute ${name}: unterminated value`);
      const value = this.src.slice(this.pos + 1, end);
      if (value.includes('<')) this.fail(`attribute ${name}: "<" in a value`);
      this.chars(this.pos + 1, end); // validates references; attributes carry nothing XML-RPC needs
      this.pos = end + 1;
    }
  }

  private comment(): void {
    const end = this.src.indexOf('-->', this.pos + 4);
    if (end < 0) this.fail('unterminated comment');
    this.pos = end + 3;
  }

  private name(): string {
    NAME.lastIndex = this.pos;
    const m = NAME.exec(this.src);
    if (!m) this.fail('expected a name');
    this.pos += m[0].length;
    return m[0];
  }

  private skipWs(): void {
    WS.lastIndex = this.pos;
    WS.exec(this.src);
    this.pos = WS.lastIndex;
  }

  private fail(message: string, at = this.pos): never {
    throw new XmlSyntaxError(message, at);
  }
}
