// index.d.ts type-checks against its use (test/types.ts) with TypeScript, strict.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const tsc = new URL('../node_modules/typescript/bin/tsc', import.meta.url);

test('the type declarations compile against their use', { skip: existsSync(tsc) ? false : 'typescript is not installed (npm install)' }, () => {
  const run = spawnSync(process.execPath, [fileURLToPath(tsc), '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--skipLibCheck', 'test/types.ts'], { cwd: root, encoding: 'utf8' });
  assert.equal(run.status, 0, run.stdout + run.stderr);
});
