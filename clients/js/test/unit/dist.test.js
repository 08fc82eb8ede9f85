// dist/ is checked in (a web chat embeds it without building anything), so it
// must be exactly what building src/ produces: build into a temporary folder and compare.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");

/** Every file under `dir`, as paths relative to it, sorted. */
function files(dir) {
  const found = [];
  const walk = (at) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else found.push(relative(dir, path));
    }
  };
  walk(dir);
  return found.sort();
}

function build(project, outDir) {
  const run = spawnSync(process.execPath, [tsc, "-p", project, "--outDir", outDir], {
    cwd: root,
    encoding: "utf8",
  });
  assert.equal(run.status, 0, `tsc -p ${project} failed:\n${run.stdout}${run.stderr}`);
}

test("dist/ is exactly what building the sources produces", (t) => {
  const out = mkdtempSync(join(tmpdir(), "chat-gateway-client-dist-"));
  t.after(() => rmSync(out, { recursive: true, force: true }));
  build("tsconfig.json", out);

  const dist = join(root, "dist");
  const expected = files(out);
  assert.deepEqual(files(dist), expected, "dist/ has other files than the build: run npm run build");
  for (const file of expected) {
    assert.equal(
      readFileSync(join(dist, file), "utf8"),
      readFileSync(join(out, file), "utf8"),
      `dist/${file} differs from the build: run npm run build`,
    );
  }
});

test("the browser entry and every module but node.js import nothing but their siblings", () => {
  const dist = join(root, "dist");
  const modules = files(dist).filter((f) => f.endsWith(".js") && f !== "node.js");
  assert.ok(modules.includes("chat-gateway.js"), "dist/chat-gateway.js exists");
  for (const file of modules) {
    const source = readFileSync(join(dist, file), "utf8");
    const specifiers = [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)["']([^"']+)["']/g)].map(
      (m) => m[1],
    );
    for (const specifier of specifiers) {
      assert.match(specifier, /^\.\/[\w.-]+\.js$/, `${file} imports ${specifier}`);
    }
  }
});

test("the browser build exports ChatClient and runs without Node's modules", async () => {
  const module = await import("../../dist/chat-gateway.js");
  assert.equal(typeof module.ChatClient, "function");
  // It takes the platform's WebSocket; without one it says what to pass instead.
  const platform = globalThis.WebSocket;
  globalThis.WebSocket = undefined;
  try {
    assert.throws(
      () => new module.ChatClient({ dispatcherUrl: "http://127.0.0.1:1", token: "t" }),
      /no WebSocket/,
    );
  } finally {
    globalThis.WebSocket = platform;
  }
});
