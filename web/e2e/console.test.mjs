// The run page's Logs tab in headless Chromium: console output captured by
// the real Python SDK shows up live while the page is open, `\r` progress
// bars collapsed to their last state, searchable and downloadable.

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { KEY, openBrowser, outDir, sdkPath, startServer } from "./harness.mjs";

const P = "console-e2e";
const RUN = "console1";
const MARK = `after-the-page-opened-${process.pid}`;

const script = `
import sys, time
import fluoro
run = fluoro.init(project=${JSON.stringify(P)}, id=${JSON.stringify(RUN)}, name="talkative")
for i in range(5):
    print("epoch %d: loss %.3f" % (i, 1.0 / (i + 1)))
for pct in range(0, 101, 10):
    sys.stdout.write("\\rprogress %d%%" % pct)
    sys.stdout.flush()
print()
print("a warning on stderr", file=sys.stderr)
run.log({"loss": 0.1})
run.flush(10)
sys.__stdout__.write("READY\\n")
sys.__stdout__.flush()
sys.stdin.readline()
print(${JSON.stringify(MARK)})
sys.stdin.readline()
run.finish()
`;

let srv;
let browser;
let proc;
let procOut = "";
let dir;

function waitFor(pred, what, ms = 20_000) {
  return new Promise((ok, fail) => {
    const t0 = Date.now();
    const tick = () => {
      if (pred()) ok();
      else if (Date.now() - t0 > ms) fail(new Error(`timed out waiting for ${what}:\n${procOut}`));
      else setTimeout(tick, 20);
    };
    tick();
  });
}

before(async () => {
  srv = await startServer();
  dir = mkdtempSync(join(tmpdir(), "fluoro-console-e2e-"));
  writeFileSync(join(dir, "talk.py"), script);
  proc = spawn(process.env.PYTHON ?? "python3", [join(dir, "talk.py")], {
    cwd: dir,
    env: {
      ...process.env,
      PYTHONPATH: sdkPath,
      FLUORO_BASE_URL: srv.base,
      FLUORO_API_KEY: KEY,
      FLUORO_DIR: dir,
      FLUORO_QUIET: "1",
      FLUORO_CONFIG_DIR: join(dir, "config"),
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  proc.stdout.on("data", (b) => {
    procOut += b;
  });
  proc.stderr.on("data", (b) => {
    procOut += b;
  });
  await waitFor(() => procOut.includes("READY"), "the script to be ready");
  browser = await openBrowser();
});

after(async () => {
  if (proc && proc.exitCode === null) proc.kill("SIGKILL");
  await browser?.close();
  await srv?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("logs: live tail, progress bars collapsed, search and download", async () => {
  const page = await browser.ctx.newPage();
  await page.goto(`${srv.base}/?token=${KEY}`); // the login link sets the session cookie
  await page.goto(`${srv.base}/admin/${P}/runs/${RUN}?tab=logs`);
  const con = page.getByTestId("console");
  await con.getByText("epoch 4: loss 0.200").waitFor();
  // biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText, the lines as the page shows them
  const text = await con.innerText();
  // the terminal's \\r updates arrive as one line: the bar's last state
  const bars = text.split("\n").filter((l) => l.includes("progress"));
  assert.deepEqual(bars, ["progress 100%"]);
  assert.match(text, /a warning on stderr/);
  assert.equal(await con.locator(".stderr").count(), 1, "the stderr line is marked");

  // a line printed now appears without a reload
  const t0 = Date.now();
  proc.stdin.write("go\n");
  await con.getByText(MARK).waitFor({ timeout: 10_000 });
  const took = Date.now() - t0;
  console.log(`logs: a printed line was on the page after ${took} ms`);
  assert.ok(took < 5000, `live line took ${took} ms`);

  // search filters the lines
  await page.getByLabel("Search logs").fill("epoch 3");
  await page.waitForFunction(() => {
    const shown = [...document.querySelectorAll('[data-testid="console"] div')].map((d) => d.textContent);
    return shown.length === 1 && shown[0] === "epoch 3: loss 0.250";
  });

  // the download holds every line, stderr marked
  const href = await page.getByRole("link", { name: "Download" }).getAttribute("href");
  const body = await page.evaluate(async (u) => (await fetch(u)).text(), href);
  assert.match(body, /^epoch 0: loss 1\.000\n/);
  assert.match(body, /\n\[stderr\] a warning on stderr\n/);
  assert.ok(body.includes(`${MARK}\n`));
  await page.screenshot({ path: join(outDir, "logs.png") });
  proc.stdin.write("end\n");
  await new Promise((r) => (proc.exitCode === null ? proc.once("exit", r) : r()));
  assert.equal(proc.exitCode, 0, procOut);
  await page.close();
});
