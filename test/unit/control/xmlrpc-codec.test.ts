// The XML-RPC codec: round trips of every type, faults, and refusal of malformed or hostile input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeMethodCall,
  decodeMethodResponse,
  encodeFault,
  encodeMethodCall,
  encodeResponse,
  struct,
  XmlRpcDecodeError,
  type XmlRpcValue,
} from '../../../src/control/xmlrpc/codec.js';
import { Faults } from '../../../src/control/xmlrpc/faults.js';
import { describeProcess, formatStopTime, formatUptime } from '../../../src/control/xmlrpc/methods.js';

function roundTrip(v: XmlRpcValue): XmlRpcValue {
  const r = decodeMethodResponse(encodeResponse(v));
  assert.equal(r.type, 'result');
  return r.type === 'result' ? r.value : null;
}

function decodeFails(body: string, faultCode: number): void {
  assert.throws(
    () => decodeMethodCall(body),
    (err: unknown) => err instanceof XmlRpcDecodeError && err.faultCode === faultCode,
    `expected fault ${faultCode} for ${JSON.stringify(body.slice(0, 120))}`,
  );
}

const call = (value: string): string =>
  `<?xml version="1.0"?><methodCall><methodName>m</methodName><params><param>${value}</param></params></methodCall>`;

test('every type survives a round trip', () => {
  const values: XmlRpcValue[] = [
    0,
    -42,
    2 ** 31 - 1,
    -(2 ** 31),
    2 ** 40, // beyond 32 bits: <i8>
    1.5,
    -0.25,
    1e-7,
    true,
    false,
    '',
    'plain',
    'a < b & c > d "quoted" \'single\'',
    'ünïcødé ✓ 𝄞',
    'line\nbreaks\r\nand\ttabs',
    '  leading and trailing spaces  ',
    new Date(Date.UTC(2024, 1, 29, 23, 59, 58)),
    new Uint8Array([0, 1, 2, 253, 254, 255]),
    null,
    [],
    [1, 'two', [3, [4]], struct([['k', true]])],
    struct([]),
    struct([
      ['name', 'web'],
      ['nested', struct([['deep', [1, 2, 3]]])],
    ]),
  ];
  for (const v of values) assert.deepEqual(roundTrip(v), v, `round trip of ${String(v)}`);
});

test('a struct key "__proto__" stays an ordinary key', () => {
  const v = roundTrip(struct([['__proto__', 'x']])) as Record<string, XmlRpcValue>;
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.deepEqual(Object.keys(v), ['__proto__']);
  assert.equal(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, 'x');
});

test('characters XML cannot carry are replaced on output, so the answer still parses', () => {
  assert.equal(roundTrip('colour \u001b[31mred\u001b[0m\u0000'), 'colour \uFFFD[31mred\uFFFD[0m\uFFFD');
});

test('method calls round trip, and untyped values are strings', () => {
  const params: XmlRpcValue[] = ['web', true, 3, [struct([['methodName', 'x']])]];
  assert.deepEqual(decodeMethodCall(encodeMethodCall('supervisor.startProcess', params)), {
    methodName: 'supervisor.startProcess',
    params,
  });
  assert.deepEqual(decodeMethodCall(call('<value>bare text</value>')).params, ['bare text']);
  assert.deepEqual(decodeMethodCall(call('<value><i4> 7 </i4></value>')).params, [7]);
  assert.deepEqual(
    decodeMethodCall('<methodCall><methodName>supervisor.getPID</methodName></methodCall>'),
    { methodName: 'supervisor.getPID', params: [] },
    'no <params> at all is accepted, as supervisor does',
  );
});

test('what Python xmlrpc.client sends decodes (comments, CDATA, references, declaration, BOM)', () => {
  const body =
    "\uFEFF<?xml version='1.0'?>\n<!-- a comment -->\n<methodCall>\n<methodName>system.methodHelp</methodName>\n<params>\n" +
    '<param>\n<value><string>a&amp;b&lt;c&#62;&#x263A;<![CDATA[<raw>&]]></string></value>\n</param>\n</params>\n</methodCall>\n';
  assert.deepEqual(decodeMethodCall(body).params, ['a&b<c>☺<raw>&']);
});

test('faults encode and decode', () => {
  const r = decodeMethodResponse(encodeFault(Faults.BAD_NAME, 'BAD_NAME: nope <&>'));
  assert.deepEqual(r, { type: 'fault', faultCode: 10, faultString: 'BAD_NAME: nope <&>' });
});

test('bodies that are not well-formed XML are parse errors', () => {
  const P = Faults.PARSE_ERROR;
  for (const body of [
    '',
    'garbage',
    '<methodCall>',
    '<methodCall><methodName>m</methodName>',
    '<methodCall><methodName>m</methodCall>',
    '<methodCall></methodcall>',
    '<methodCall><methodName>a & b</methodName></methodCall>',
    '<methodCall><methodName>&nbsp;</methodName></methodCall>',
    '<methodCall><methodName>&#0;</methodName></methodCall>',
    '<methodCall><methodName>&#xD800;</methodName></methodCall>',
    '<methodCall><methodName>\u0001</methodName></methodCall>',
    '<methodCall a=1></methodCall>',
    '<methodCall a="1" a="2"></methodCall>',
    '<methodCall/><methodCall/>',
    '<methodCall/>trailing',
    '<?xml-stylesheet href="x"?><methodCall/>',
    '<?xml version="1<.0"?><methodCall><methodName>m</methodName></methodCall>',
    '<?xml version="1.0&"?><methodCall><methodName>m</methodName></methodCall>',
    '<?xml version="1.0"<methodCall><methodName>m</methodName></methodCall>',
    '<methodCall><![CDATA[never closed</methodCall>',
    '<methodCall><!-- never closed</methodCall>',
  ]) {
    decodeFails(body, P);
  }
});

test('DOCTYPE, entity declarations and external entities are refused before any expansion', () => {
  const bomb =
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>' +
    '<methodCall><methodName>&lol3;</methodName></methodCall>';
  decodeFails(bomb, Faults.PARSE_ERROR);
  decodeFails('<!DOCTYPE x SYSTEM "file:///etc/passwd"><methodCall><methodName>&x;</methodName></methodCall>', Faults.PARSE_ERROR);
  decodeFails('<methodCall><methodName>&xxe;</methodName></methodCall>', Faults.PARSE_ERROR);
});

test('deep nesting is refused without exhausting the stack', () => {
  const depth = 100_000;
  const deep = call('<value><array><data>'.repeat(depth) + '</data></array></value>'.repeat(depth));
  decodeFails(deep, Faults.PARSE_ERROR);
  // just under the limit still works: methodCall/params/param + 14 levels of value/array/data + int
  const ok = call('<value><array><data>'.repeat(14) + '<value><int>1</int></value>' + '</data></array></value>'.repeat(14));
  let v: XmlRpcValue = decodeMethodCall(ok).params[0] as XmlRpcValue;
  for (let i = 0; i < 14; i++) v = (v as XmlRpcValue[])[0] as XmlRpcValue;
  assert.equal(v, 1);
});

test('well-formed XML that is not a valid method call is an invalid request', () => {
  const I = Faults.INVALID_REQUEST;
  for (const body of [
    '<methodResponse/>',
    '<methodCall/>',
    '<methodCall><methodName></methodName></methodCall>',
    '<methodCall><methodName>a b</methodName></methodCall>',
    `<methodCall><methodName>${'x'.repeat(300)}</methodName></methodCall>`,
    '<methodCall><methodName>m</methodName><methodName>n</methodName></methodCall>',
    '<methodCall><methodName>m</methodName><params><value>1</value></params></methodCall>',
    '<methodCall><methodName>m</methodName><other/></methodCall>',
    call('<value><int>abc</int></value>'),
    call('<value><int>1.5</int></value>'),
    call('<value><int>99999999999</int></value>'),
    call('<value><i8>99999999999999999999</i8></value>'),
    call('<value><boolean>yes</boolean></value>'),
    call('<value><double>one</double></value>'),
    call('<value><dateTime.iso8601>yesterday</dateTime.iso8601></value>'),
    call('<value><dateTime.iso8601>20240230T00:00:00</dateTime.iso8601></value>'),
    call('<value><base64>!!!</base64></value>'),
    call('<value><unknown>1</unknown></value>'),
    call('<value><int>1</int><int>2</int></value>'),
    call('<value>text<int>1</int></value>'),
    call('<value><array><value>1</value></array></value>'),
    call('<value><struct><member><name>a</name></member></struct></value>'),
    call('<value><struct><member><name>a</name><value>1</value></member><member><name>a</name><value>2</value></member></struct></value>'),
    call('<value><string><b>x</b></string></value>'),
    call('<value><nil>x</nil></value>'),
    '<methodCall><methodName>m</methodName><params><param></param></params></methodCall>',
  ]) {
    decodeFails(body, I);
  }
});

test('bytes that are not UTF-8 are a parse error', () => {
  const bytes = Buffer.concat([Buffer.from('<methodCall><methodName>'), Buffer.from([0xff, 0xfe]), Buffer.from('</methodName></methodCall>')]);
  assert.throws(() => decodeMethodCall(bytes), (e: unknown) => e instanceof XmlRpcDecodeError && e.faultCode === Faults.PARSE_ERROR);
});

test("status descriptions read as supervisor's", () => {
  const base = { start: 1000, stop: 0, now: 1005, pid: 42, spawnerr: '', name: 'web' };
  assert.equal(describeProcess('running', base), 'pid 42, uptime 0:00:05');
  assert.equal(describeProcess('starting', base), '');
  assert.equal(describeProcess('stopping', base), '');
  assert.equal(describeProcess('fatal', { ...base, spawnerr: "can't find command 'x'" }), "can't find command 'x'");
  assert.equal(describeProcess('backoff', base), 'unknown error (try "tail web")');
  assert.equal(describeProcess('stopped', { ...base, start: 0 }), 'Not started');
  assert.equal(describeProcess('exited', { ...base, stop: 1_700_000_000 }), formatStopTime(1_700_000_000));
  assert.equal(formatUptime(0), '0:00:00');
  assert.equal(formatUptime(3661), '1:01:01');
  assert.equal(formatUptime(86400 + 59), '1 day, 0:00:59');
  assert.equal(formatUptime(3 * 86400 + 36000), '3 days, 10:00:00');
  assert.match(formatStopTime(1_700_000_000), /^[A-Z][a-z]{2} \d\d (0[1-9]|1[0-2]):\d\d [AP]M$/);
});
