// Build the static viewer into dist/: the app from src/ plus Leaflet's JS, CSS and images
// from node_modules (no bundler needed: the app is one plain script next to Leaflet's).
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

let leafletDir;
try {
  leafletDir = dirname(require.resolve('leaflet/package.json'));
} catch {
  console.error('leaflet is not installed: run `npm ci --prefix viewer` first');
  process.exit(1);
}
const leaflet = JSON.parse(readFileSync(join(leafletDir, 'package.json'), 'utf8'));

// Build next to dist/ and swap at the end, so a server never sees half a build.
const dist = join(root, 'dist');
const staging = join(root, 'dist.tmp');
rmSync(staging, { recursive: true, force: true });
mkdirSync(join(staging, 'vendor', 'leaflet'), { recursive: true });

cpSync(join(root, 'src'), staging, { recursive: true });
for (const name of ['leaflet.js', 'leaflet.js.map', 'leaflet.css', 'images']) {
  const from = join(leafletDir, 'dist', name);
  if (existsSync(from)) cpSync(from, join(staging, 'vendor', 'leaflet', name), { recursive: true });
}
for (const name of ['LICENSE']) {
  const from = join(leafletDir, name);
  if (existsSync(from)) cpSync(from, join(staging, 'vendor', 'leaflet', name));
}
writeFileSync(
  join(staging, 'build.json'),
  `${JSON.stringify({ leaflet: leaflet.version, built_at: new Date().toISOString() }, null, 2)}\n`,
);

rmSync(dist, { recursive: true, force: true });
renameSync(staging, dist);
console.log(`viewer built in ${dist} (Leaflet ${leaflet.version})`);
