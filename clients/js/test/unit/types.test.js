// The public API is a contract (README.md): the example code written against it must
// type-check against the built declarations, and misuse must not.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

test("code written against the documented API type-checks", () => {
  const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
  const run = spawnSync(process.execPath, [tsc, "-p", "test/types/tsconfig.json"], {
    cwd: root,
    encoding: "utf8",
  });
  assert.equal(run.status, 0, `tsc -p test/types failed:\n${run.stdout}${run.stderr}`);
});
