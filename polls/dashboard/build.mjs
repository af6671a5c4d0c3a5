// Bundles the dashboard: `node build.mjs [outfile]` (default dist/dashboard.js). One
// definition of the build, used both to rebuild the committed bundle and to check it.
import { build } from "esbuild";

await build({
  entryPoints: ["src/app.js"],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  legalComments: "none",
  outfile: process.argv[2] || "dist/dashboard.js",
  logLevel: "warning",
});
