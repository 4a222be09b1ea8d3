// Builds wwwroot/app.js (the page) and wwwroot/sw.js (the service worker) from src/ with esbuild:
// bundled, minified, no source map. The output depends only on the sources and the locked packages,
// so `npm ci && npm run build` reproduces the checked-in files byte for byte.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL(".", import.meta.url));
const out = here + "../wwwroot/";

const common = {
  bundle: true,
  minify: true,
  sourcemap: false,
  legalComments: "eof",
  charset: "utf8",
  target: ["chrome111", "firefox115", "safari16.4"],
  logLevel: "info",
  absWorkingDir: here,
};

await esbuild.build({ ...common, entryPoints: ["src/main.ts"], outfile: out + "app.js", format: "esm" });
await esbuild.build({ ...common, entryPoints: ["src/sw.ts"], outfile: out + "sw.js", format: "iife" });
