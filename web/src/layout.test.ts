import { describe, expect, it } from "vitest";
import {
  addPanel,
  arrangeColumns,
  emptyLayout,
  moveColumn,
  parseLayout,
  removePanel,
  togglePin,
} from "./layout";

describe("layout", () => {
  it("parses what it stored and drops junk", () => {
    const l = addPanel(
      { ...emptyLayout, removed: ["lr"], pinned: ["config.lr"] },
      { key: "val/loss", logY: true },
    );
    expect(parseLayout(JSON.stringify(l))).toEqual(l);
    expect(parseLayout("not json")).toEqual(emptyLayout);
    expect(parseLayout(null)).toEqual(emptyLayout);
    expect(parseLayout('{"removed":[1,"a"],"custom":[{"id":"x"},{"id":"p1","key":"k","x":"wall"}]}')).toEqual(
      {
        ...emptyLayout,
        removed: ["a"],
        custom: [{ id: "p1", key: "k", x: "wall" }],
      },
    );
  });
  it("adds panels with fresh ids and removes custom and automatic ones", () => {
    let l = addPanel(emptyLayout, { key: "a" });
    l = addPanel(l, { key: "b" });
    expect(l.custom.map((c) => c.id)).toEqual(["p1", "p2"]);
    l = removePanel(l, { id: "p1" });
    l = addPanel(l, { key: "c" });
    expect(l.custom.map((c) => [c.id, c.key])).toEqual([
      ["p2", "b"],
      ["p3", "c"],
    ]);
    l = removePanel(l, { key: "train/loss" });
    expect(removePanel(l, { key: "train/loss" }).removed).toEqual(["train/loss"]);
  });
  it("arranges columns: pinned, then the user's order, then the rest", () => {
    const cols = ["state", "created", "user", "config.lr", "summary.acc"].map((id) => ({ id }));
    const ids = (l: { order: string[]; pinned: string[] }) => arrangeColumns(cols, l).map((c) => c.id);
    expect(ids({ order: [], pinned: [] })).toEqual(["state", "created", "user", "config.lr", "summary.acc"]);
    expect(ids({ order: ["user", "gone", "state"], pinned: ["summary.acc"] })).toEqual([
      "summary.acc",
      "user",
      "state",
      "created",
      "config.lr",
    ]);
  });
  it("moves a column within its block and toggles pins", () => {
    const shown = ["summary.acc", "state", "created", "user"];
    const pinned = ["summary.acc"];
    expect(moveColumn(shown, pinned, "created", -1)).toEqual(["summary.acc", "created", "state", "user"]);
    expect(moveColumn(shown, pinned, "user", 1)).toEqual(shown);
    // not across the pinned boundary
    expect(moveColumn(shown, pinned, "state", -1)).toEqual(shown);
    expect(togglePin(pinned, "state")).toEqual(["summary.acc", "state"]);
    expect(togglePin(pinned, "summary.acc")).toEqual([]);
  });
});
