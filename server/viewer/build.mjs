// Assemble dist/: the static page plus hls.js from node_modules (installed from the npm
// registry by `npm ci`, pinned by package-lock.json). Served as is by Caddy; no CDN.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2] || join(here, "dist");
const hls = join(here, "node_modules", "hls.js");

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "vendor"), { recursive: true });
cpSync(join(here, "src"), out, { recursive: true });
cpSync(join(hls, "dist", "hls.light.min.js"), join(out, "vendor", "hls.light.min.js"));
cpSync(join(hls, "LICENSE"), join(out, "vendor", "hls.js.LICENSE.txt"));
console.log(`viewer built into ${out}`);
