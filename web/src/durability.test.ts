import { describe, expect, it } from "vitest";
import { pendingTitle, pendingWarning, strandedPoints, syncCommand } from "./durability";
import { formatCount } from "./format";

const run = (state: string, points_pending?: number, host = "gpu-7") => ({
  id: "abc123",
  host,
  state,
  points_pending,
});

describe("durability", () => {
  it("counts pending points only once the run has ended", () => {
    expect(strandedPoints(run("running", 40))).toBe(0); // a batch on its way: normal
    for (const s of ["finished", "failed", "killed", "crashed", "preempted", "lost"])
      expect(strandedPoints(run(s, 40))).toBe(40);
    expect(strandedPoints(run("finished", 0))).toBe(0);
    expect(strandedPoints(run("finished"))).toBe(0); // writers that do not report
  });

  it("warns about an ended run's spool, naming the host, the run and the command", () => {
    expect(pendingWarning(run("running", 6))).toBeNull();
    expect(pendingWarning(run("finished", 0))).toBeNull();
    expect(pendingWarning(run("failed"))).toBeNull();
    expect(pendingWarning(run("failed", 6))).toBe(
      "6 points never reached the server. They are still in the run's spool on host gpu-7: " +
        "there, in the directory the run started in (or its FLUORO_DIR), run `fluoro sync fluoro/run-*-abc123` " +
        "(or `python -m fluoro sync` with the same path).",
    );
    expect(pendingWarning(run("crashed", 1))).toMatch(/^1 point never reached the server\. It is still/);
    expect(pendingWarning(run("killed", 1234567))).toMatch(new RegExp(`^${formatCount(1234567)} points `));
    expect(pendingWarning(run("finished", 3, ""))).toContain("on the machine that ran it:");
  });

  it("titles the runs table's marker", () => {
    expect(pendingTitle(run("running", 6))).toBeNull();
    expect(pendingTitle(run("finished"))).toBeNull();
    expect(pendingTitle(run("finished", 6))).toBe(
      "6 points still on the client (host gpu-7), not at the server: run fluoro sync there",
    );
    expect(pendingTitle(run("crashed", 1, ""))).toBe(
      "1 point still on the client (the machine that ran it), not at the server: run fluoro sync there",
    );
  });

  it("globs the run's directory", () => {
    expect(syncCommand("abc123")).toBe("fluoro sync fluoro/run-*-abc123");
  });
});
