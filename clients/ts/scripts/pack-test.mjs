// The packed package as a user gets it: `npm pack` → install the tarball in a clean
// temporary project → import both entries from Node and type-check a consumer with
// the published .d.ts (moduleResolution nodenext). Run after `npm run build`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'heliograph-pack-'));
const run = (cmd, args, cwd = dir) => execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] }).toString();
try {
  run('npm', ['pack', '--pack-destination', dir, '--silent'], pkg);
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error('npm pack wrote no tarball');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  run('npm', ['install', '--no-audit', '--no-fund', '--offline', `./${tarball}`]);
  writeFileSync(
    join(dir, 'use.mts'),
    `import { MemoryStore, ReplayWindow, SessionClient, WakuClient, generateSymKey, openEnvelope, decodeEnvelope, sealType0, topicOf, type Snapshot } from '@heliograph/client';
import { FileStore } from '@heliograph/client/node';
declare const process: { argv: string[] };
const key = generateSymKey();
const text: string = openEnvelope(key, decodeEnvelope(sealType0(key, 'hello')));
if (text !== 'hello') throw new Error('envelope round trip failed');
const w = new ReplayWindow(2);
const now = Date.now();
w.accept(now * 1000, now, 60_000, 60_000);
let refused = false;
try { w.accept(now * 1000, now, 60_000, 60_000); } catch { refused = true; }
if (!refused) throw new Error('replay accepted');
const store = new FileStore(process.argv[2] + '/kv.json');
await store.set('k', topicOf(key));
if ((await new FileStore(process.argv[2] + '/kv.json').get('k')) !== topicOf(key)) throw new Error('file store lost the value');
const snap: Snapshot | undefined = undefined;
console.log(JSON.stringify({ ok: true, classes: [typeof SessionClient, typeof WakuClient, typeof MemoryStore], snap: snap ?? null }));
`,
  );
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, outDir: 'out', types: [], lib: ['es2022', 'dom'] }, files: ['use.mts'] }));
  run(process.execPath, [join(pkg, 'node_modules/typescript/bin/tsc'), '-p', '.']);
  const out = JSON.parse(run(process.execPath, ['out/use.mjs', dir]));
  if (!out.ok || out.classes.some((c) => c !== 'function')) throw new Error(`consumer failed: ${JSON.stringify(out)}`);
  console.log(`pack test ok: ${tarball} installed in a clean project, both entries imported, .d.ts type-checked (nodenext)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
