#!/usr/bin/env node
// Copies the web page's files (src/control/web/) to dist/src/control/web/, where the control server reads
// them (src/control/web.ts); tsc does not copy non-TypeScript files. Run by `npm run build`.
import { cpSync, mkdirSync, rmSync } from 'node:fs';

const root = new URL('..', import.meta.url);
const from = new URL('src/control/web/', root);
const to = new URL('dist/src/control/web/', root);
rmSync(to, { recursive: true, force: true });
mkdirSync(to, { recursive: true });
cpSync(from, to, { recursive: true });
