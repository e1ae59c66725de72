// XML-RPC values to and from XML (http://xmlrpc.com/spec.md), with the extensions Python's xmlrpc.client —
// and so supervisorctl — understands: <nil/> and <i8>. Decoding never throws anything but XmlRpcDecodeError.
import { parseXml, XmlSyntaxError, type XmlElement, type XmlLimits, DEFAULT_XML_LIMITS } from './xml.js';
import { DroverError } from '../../errors.js';
import { Faults } from './faults.js';

/** A struct: string keys to values (built so that a key like "__proto__" is an ordinary own key). */
export interface XmlRpcStruct {
  [key: string]: XmlRpcValue;
}

export type XmlRpcValue = number | boolean | string | Date | Uint8Array | null | XmlRpcValue[] | XmlRpcStruct | EncodedXml;

/**
 * A value encoded already, written out as it is: answers assembled from parts kept between calls
 * (getAllProcessInfo, a thousand structs of which only `now` and `description` change with the clock).
 * Decoding never produces one.
 */
export class EncodedXml {
  constructor(readonly xml: string) {}
}

export interface MethodCall {
  readonly methodName: string;
  readonly params: XmlRpcValue[];
}

export type MethodResponse =
  | { readonly type: 'result'; readonly value: XmlRpcValue }
  | { readonly type: 'fault'; readonly faultCode: number; readonly faultString: string };

/** A body that is not a valid XML-RPC message; `faultCode` says whether the XML itself was bad. */
export class XmlRpcDecodeError extends DroverError {
  constructor(
    readonly faultCode: number,
    message: string,
  ) {
    super('E_XMLRPC_DECODE', message);
  }
}

/** Longest method name accepted; supervisor's are under 40 characters. */
const MAX_METHOD_NAME = 256;

/** Decodes a methodCall body (bytes must be UTF-8). */
export function decodeMethodCall(body: Uint8Array | string, limits: XmlLimits = DEFAULT_XML_LIMITS): MethodCall {
  const root = parseDocument(body, limits);
  if (root.name !== 'methodCall') invalid(`the root element is <${root.name}>, expected <methodCall>`);
  onlyWhitespace(root);
  let methodName: string | null = null;
  let params: XmlRpcValue[] = [];
  let seenParams = false;
  for (const child of root.children) {
    if (child.name === 'methodName') {
      if (methodName !== null) invalid('more than one <methodName>');
      if (child.children.length > 0) invalid('<methodName> must hold text only');
      methodName = child.text.trim();
    } else if (child.name === 'params') {
      if (seenParams) invalid('more than one <params>');
      seenParams = true;
      params = decodeParams(child);
    } else {
      invalid(`unexpected <${child.name}> in <methodCall>`);
    }
  }
  if (methodName === null || methodName === '') invalid('no <methodName>');
  if (methodName.length > MAX_METHOD_NAME || !/^[A-Za-z0-9_.:/-]+$/.test(methodName)) {
    invalid(`method name ${JSON.stringify(methodName.slice(0, 80))} is not a valid XML-RPC method name`);
  }
  return { methodName, params };
}

/** Decodes a methodResponse body (for clients and tests). */
export function decodeMethodResponse(body: Uint8Array | string, limits: XmlLimits = DEFAULT_XML_LIMITS): MethodResponse {
  const root = parseDocument(body, limits);
  if (root.name !== 'methodResponse') invalid(`the root element is <${root.name}>, expected <methodResponse>`);
  onlyWhitespace(root);
  const [only, ...rest] = root.children;
  if (!only || rest.length > 0) invalid('<methodResponse> must hold one <params> or one <fault>');
  if (only.name === 'params') {
    const params = decodeParams(only);
    if (params.length !== 1) invalid(`a response carries one value, got ${params.length}`);
    return { type: 'result', value: params[0] as XmlRpcValue };
  }
  if (only.name === 'fault') {
    onlyWhitespace(only);
    const [v, ...more] = only.children;
    if (!v || more.length > 0 || v.name !== 'value') invalid('<fault> must hold one <value>');
    const f = decodeValue(v);
    if (!isStruct(f) || typeof f['faultCode'] !== 'number' || typeof f['faultString'] !== 'string') {
      invalid('a fault must be a struct of faultCode (int) and faultString (string)');
    }
    return { type: 'fault', faultCode: f['faultCode'], faultString: f['faultString'] };
  }
  return invalid(`unexpected <${only.name}> in <methodResponse>`);
}

/** Encodes a successful response. */
export function encodeResponse(value: XmlRpcValue): string {
  const out: string[] = [];
  out.push('<?xml version="1.0"?>\n<methodResponse>\n<params>\n<param>\n');
  encodeValue(value, out);
  out.push('\n</param>\n</params>\n</methodResponse>\n');
  return out.join('');
}

/** Encodes a fault response. */
export function encodeFault(faultCode: number, faultString: string): string {
  const out: string[] = ['<?xml version="1.0"?>\n<methodResponse>\n<fault>\n'];
  encodeValue(struct([['faultCode', faultCode], ['faultString', faultString]]), out);
  out.push('\n</fault>\n</methodResponse>\n');
  return out.join('');
}

/** Encodes a method call (for clients and tests). */
export function encodeMethodCall(methodName: string, params: readonly XmlRpcValue[]): string {
  const out: string[] = ['<?xml version="1.0"?>\n<methodCall>\n<methodName>', escapeText(methodName), '</methodName>\n<params>\n'];
  for (const p of params) {
    out.push('<param>\n');
    encodeValue(p, out);
    out.push('\n</param>\n');
  }
  out.push('</params>\n</methodCall>\n');
  return out.join('');
}

/** The <member> elements of a struct with these entries, as encodeResponse writes them. */
export function encodeMembers(entries: Iterable<readonly [string, XmlRpcValue]>): string {
  const out: string[] = [];
  for (const [k, v] of entries) encodeMember(k, v, out);
  return out.join('');
}

/** A struct from members encoded by encodeMembers, in their order. */
export function encodedStruct(members: string): EncodedXml {
  return new EncodedXml(`<value><struct>\n${members}</struct></value>`);
}

/** Builds a struct from entries; keys are defined as own properties, so "__proto__" stays data. */
export function struct(entries: Iterable<readonly [string, XmlRpcValue]>): XmlRpcStruct {
  const s: XmlRpcStruct = {};
  for (const [k, v] of entries) {
    // an assignment keeps the object fast (getAllProcessInfo builds a thousand of the same shape); only
    // "__proto__" would mean something else when assigned
    if (k === '__proto__') Object.defineProperty(s, k, { value: v, enumerable: true, writable: true, configurable: true });
    else s[k] = v;
  }
  return s;
}

export function isStruct(v: XmlRpcValue | undefined): v is XmlRpcStruct {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !(v instanceof Uint8Array) && !(v instanceof EncodedXml);
}

// --- internal ---

const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;
const DATE_RE = /^(\d{4})-?(\d{2})-?(\d{2})T(\d{2}):(\d{2}):(\d{2})$/;
const DOUBLE_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const INT_RE = /^[+-]?\d{1,20}$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;
// Characters that XML 1.0 cannot carry in any form; replaced on output (e.g. ANSI escapes in a log tail),
// because an XML parser on the other side (Python's expat) rejects the whole response otherwise.
// eslint-disable-next-line no-control-regex
const UNENCODABLE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** Anything escapeText may change: what UNENCODABLE matches (any surrogate, to be checked there), & < > and CR. */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uD800-\uDFFF\uFFFE\uFFFF&<>\r]/;

function parseDocument(body: Uint8Array | string, limits: XmlLimits): XmlElement {
  let text: string;
  if (typeof body === 'string') text = body;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(body);
    } catch {
      // TextDecoder throws a TypeError for any invalid byte sequence; that is the only failure here
      throw new XmlRpcDecodeError(Faults.PARSE_ERROR, 'the body is not valid UTF-8');
    }
  }
  try {
    return parseXml(text, limits);
  } catch (err) {
    if (err instanceof XmlSyntaxError) throw new XmlRpcDecodeError(Faults.PARSE_ERROR, `not well-formed XML: ${err.message}`);
    throw err;
  }
}

function invalid(message: string): never {
  throw new XmlRpcDecodeError(Faults.INVALID_REQUEST, message);
}

function onlyWhitespace(el: XmlElement): void {
  if (el.text.trim() !== '') invalid(`unexpected text in <${el.name}>`);
}

function decodeParams(el: XmlElement): XmlRpcValue[] {
  onlyWhitespace(el);
  return el.children.map((param) => {
    if (param.name !== 'param') invalid(`unexpected <${param.name}> in <params>`);
    onlyWhitespace(param);
    const [v, ...rest] = param.children;
    if (!v || rest.length > 0 || v.name !== 'value') invalid('a <param> must hold exactly one <value>');
    return decodeValue(v);
  });
}

function decodeValue(el: XmlElement): XmlRpcValue {
  if (el.children.length === 0) return el.text; // no type element: a string
  if (el.children.length > 1) invalid('a <value> must hold one typed element');
  onlyWhitespace(el);
  const t = el.children[0] as XmlElement;
  const scalar = (): string => {
    if (t.children.length > 0) invalid(`<${t.name}> must hold text only`);
    return t.text;
  };
  switch (t.name) {
    case 'string':
      return scalar();
    case 'int':
    case 'i4':
    case 'i8': {
      const s = scalar().trim();
      if (!INT_RE.test(s)) invalid(`<${t.name}> holds ${JSON.stringify(s.slice(0, 40))}, not an integer`);
      const n = Number(s);
      if (!Number.isSafeInteger(n)) invalid(`<${t.name}> ${s} is out of range`);
      if (t.name !== 'i8' && (n < INT32_MIN || n > INT32_MAX)) invalid(`<${t.name}> ${s} does not fit in 32 bits`);
      return n;
    }
    case 'boolean': {
      const s = scalar().trim();
      if (s !== '0' && s !== '1') invalid(`<boolean> holds ${JSON.stringify(s.slice(0, 40))}, expected 0 or 1`);
      return s === '1';
    }
    case 'double': {
      const s = scalar().trim();
      const special: Record<string, number> = { nan: NaN, inf: Infinity, '-inf': -Infinity, '+inf': Infinity };
      const lower = s.toLowerCase();
      if (Object.hasOwn(special, lower)) return special[lower] as number;
      if (!DOUBLE_RE.test(s)) invalid(`<double> holds ${JSON.stringify(s.slice(0, 40))}, not a number`);
      return Number(s);
    }
    case 'dateTime.iso8601': {
      const m = DATE_RE.exec(scalar().trim());
      if (!m) invalid('<dateTime.iso8601> must look like 19980717T14:08:55');
      const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
      const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
      if (date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
        invalid('<dateTime.iso8601> is not a valid date and time');
      }
      return date;
    }
    case 'base64': {
      const s = scalar().replace(/[ \t\r\n]/g, '');
      if (!BASE64_RE.test(s) || s.length % 4 === 1) invalid('<base64> is not valid base64');
      return new Uint8Array(Buffer.from(s, 'base64'));
    }
    case 'nil':
      if (t.children.length > 0 || t.text.trim() !== '') invalid('<nil/> must be empty');
      return null;
    case 'array': {
      onlyWhitespace(t);
      const [data, ...rest] = t.children;
      if (!data || rest.length > 0 || data.name !== 'data') invalid('an <array> must hold exactly one <data>');
      onlyWhitespace(data);
      return data.children.map((v) => {
        if (v.name !== 'value') invalid(`unexpected <${v.name}> in <data>`);
        return decodeValue(v);
      });
    }
    case 'struct': {
      onlyWhitespace(t);
      const entries: [string, XmlRpcValue][] = [];
      const seen = new Set<string>();
      for (const member of t.children) {
        if (member.name !== 'member') invalid(`unexpected <${member.name}> in <struct>`);
        onlyWhitespace(member);
        const name = member.children.find((c) => c.name === 'name');
        const value = member.children.find((c) => c.name === 'value');
        if (!name || !value || member.children.length !== 2) invalid('a <member> must hold one <name> and one <value>');
        if (name.children.length > 0) invalid('<name> must hold text only');
        if (seen.has(name.text)) invalid(`struct member ${JSON.stringify(name.text.slice(0, 40))} appears twice`);
        seen.add(name.text);
        entries.push([name.text, decodeValue(value)]);
      }
      return struct(entries);
    }
    default:
      return invalid(`unknown value type <${t.name}>`);
  }
}

function encodeValue(v: XmlRpcValue, out: string[]): void {
  if (v === null) out.push('<value><nil/></value>');
  else if (typeof v === 'string') out.push('<value><string>', escapeText(v), '</string></value>');
  else if (typeof v === 'boolean') out.push('<value><boolean>', v ? '1' : '0', '</boolean></value>');
  else if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= INT32_MIN && v <= INT32_MAX) out.push('<value><int>', String(v), '</int></value>');
    else if (Number.isSafeInteger(v)) out.push('<value><i8>', String(v), '</i8></value>');
    else out.push('<value><double>', formatDouble(v), '</double></value>');
  } else if (v instanceof EncodedXml) out.push(v.xml);
  else if (v instanceof Date) out.push('<value><dateTime.iso8601>', formatDate(v), '</dateTime.iso8601></value>');
  else if (v instanceof Uint8Array) out.push('<value><base64>', Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64'), '</base64></value>');
  else if (Array.isArray(v)) {
    out.push('<value><array><data>\n');
    for (const item of v) {
      encodeValue(item, out);
      out.push('\n');
    }
    out.push('</data></array></value>');
  } else {
    out.push('<value><struct>\n');
    for (const k of Object.keys(v)) encodeMember(k, v[k] as XmlRpcValue, out);
    out.push('</struct></value>');
  }
}

function encodeMember(name: string, v: XmlRpcValue, out: string[]): void {
  out.push('<member>\n<name>', escapeText(name), '</name>\n');
  encodeValue(v, out);
  out.push('\n</member>\n');
}

function escapeText(s: string): string {
  // most strings (member names, states, process names) need nothing: one test instead of five replaces
  if (!NEEDS_ESCAPE.test(s)) return s;
  return s.replace(UNENCODABLE, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r/g, '&#13;');
}

function formatDouble(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  return String(n).replace(/e\+?/, 'E'); // XML-RPC's spec has no exponent; Python and most clients read one
}

function formatDate(d: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}
