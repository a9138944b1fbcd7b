// After `c8 mocha` (npm run test:unit): coverage per part of the project, from c8's json-summary report,
// printed and held to the same threshold as the total (.c8rc.json), so one weak part cannot hide
// behind the others.
import console from "node:console";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";

const root = path.resolve(import.meta.dirname, "..");
const config = JSON.parse(fs.readFileSync(path.join(root, ".c8rc.json"), "utf8"));
const summary = JSON.parse(
  fs.readFileSync(path.join(root, config["reports-dir"], "coverage-summary.json"), "utf8"),
);
const PARTS = {
  "program (index.ts, components/)": (f) => f === "index.ts" || f.startsWith("components/"),
  "driver (automation/)": (f) => f.startsWith("automation/"),
  "policy pack (policy/)": (f) => f.startsWith("policy/"),
  "app (app/src/)": (f) => f.startsWith("app/src/"),
};

let failed = false;
for (const [part, inPart] of Object.entries(PARTS)) {
  const files = Object.entries(summary).filter(([f]) => f !== "total" && inPart(path.relative(root, f)));
  const pct = (kind) => {
    const [covered, total] = files.reduce(
      ([c, t], [, s]) => [c + s[kind].covered, t + s[kind].total],
      [0, 0],
    );
    return total === 0 ? 100 : (100 * covered) / total;
  };
  const lines = pct("lines");
  const branches = pct("branches");
  const ok = files.length > 0 && lines >= config.lines && branches >= config.branches;
  failed ||= !ok;
  console.log(
    `${ok ? "ok  " : "LOW "} ${part.padEnd(34)} lines ${lines.toFixed(1)}%  branches ${branches.toFixed(1)}%`,
  );
}
if (failed) {
  console.error(`coverage below ${config.lines}% lines or ${config.branches}% branches in a part`);
  process.exit(1);
}
