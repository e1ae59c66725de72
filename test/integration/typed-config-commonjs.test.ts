// A typed config beside a package.json that says "type": "commonjs" (what `npm init -y` writes from npm 11,
// the npm of Node 24). The docs' drover.config.ts loaded on Node 20, where drover strips the types itself
// and always made an ES module of a .ts, but not on Node 22 or 24: Node's own stripping took the format
// from "type", read the config as CommonJS and refused its `import` ("Cannot use import statement outside a
// module", exit 2). A .ts or .mts is now an ES module on every Node, a .cts CommonJS; a .js stays what
// Node makes of it, and a .js config written as an ES module is told why it fails.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeTmpDir, runCli } from '../helpers/drover.js';
import { linkDrover } from '../helpers/shared.js';

/** A project directory as `npm init -y` leaves it with npm 11, drover installed in it. */
function commonJsProject(): string {
  const dir = makeTmpDir();
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'app', version: '1.0.0', type: 'commonjs' }, null, 2)}\n`);
  linkDrover(dir);
  return dir;
}

/** The commands `drover check --json` resolves, by process name. */
async function checkedCommands(dir: string, args: string[] = []): Promise<Record<string, string>> {
  const r = await runCli(['check', '--json', ...args], { cwd: dir });
  assert.equal(r.code, 0, r.output);
  const processes = (JSON.parse(r.stdout) as { processes: { name: string; command: string }[] }).processes;
  return Object.fromEntries(processes.map((p) => [p.name, p.command]));
}

test('under "type": "commonjs", drover.config.ts and the .ts and .mts modules it imports load as ES modules', async () => {
  const dir = commonJsProject();
  writeFileSync(join(dir, 'ports.ts'), `export const port: number = 8000;\n`);
  writeFileSync(join(dir, 'names.mts'), `export const name: string = 'web';\n`);
  writeFileSync(
    join(dir, 'drover.config.ts'),
    `import { defineConfig } from 'drover';
import { port } from './ports.ts';
import { name } from './names.mts';
export default defineConfig(({ env }) => ({
  programs: { [name]: { command: \`/bin/echo \${port} \${env['GREETING'] ?? 'none'}\` } },
}));
`,
  );
  assert.deepEqual(await checkedCommands(dir), { web: '/bin/echo 8000 none' });
  writeFileSync(join(dir, 'drover.config.mts'), `import { port } from './ports.ts';\nexport default { programs: { api: { command: '/bin/echo ' + (port satisfies number) } } };\n`);
  assert.deepEqual(await checkedCommands(dir, ['-c', join(dir, 'drover.config.mts')]), { api: '/bin/echo 8000' });
});

test('a .cts module a typed config imports is CommonJS, its require of another .cts included, on every Node', async () => {
  const dir = commonJsProject();
  writeFileSync(join(dir, 'base.cts'), `const base: string = '/bin/echo';\nmodule.exports = { base };\n`);
  writeFileSync(join(dir, 'cmd.cts'), `const { base } = require('./base.cts') as { base: string };\nmodule.exports = { command: base + ' from-cts' };\n`);
  writeFileSync(join(dir, 'drover.config.ts'), `import cmd from './cmd.cts';\nexport default { programs: { web: { command: cmd.command as string } } };\n`);
  assert.deepEqual(await checkedCommands(dir), { web: '/bin/echo from-cts' });
});

test('under "type": "commonjs", a .mjs config loads; a .js config is CommonJS: module.exports loads, export default is refused with the reason', async () => {
  const dir = commonJsProject();
  writeFileSync(join(dir, 'drover.config.mjs'), `import { defineConfig } from 'drover';\nexport default defineConfig({ programs: { web: { command: '/bin/true' } } });\n`);
  assert.deepEqual(await checkedCommands(dir), { web: '/bin/true' });
  const js = join(dir, 'drover.config.js');
  writeFileSync(js, `module.exports = { programs: { cjs: { command: '/bin/true' } } };\n`);
  assert.deepEqual(await checkedCommands(dir, ['-c', js]), { cjs: '/bin/true' });
  writeFileSync(js, `import { defineConfig } from 'drover';\nexport default defineConfig({ programs: { web: { command: '/bin/true' } } });\n`);
  const r = await runCli(['check', '-c', js], { cwd: dir });
  assert.equal(r.code, 2, r.output);
  assert.match(r.stderr, /drover\.config\.js:1: SyntaxError: Cannot use import statement outside a module \(Node reads this \.js file as CommonJS, as the nearest package\.json does not say "type": "module": name the config \.mjs or \.ts/, r.output);
});
