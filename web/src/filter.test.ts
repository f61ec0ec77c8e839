import { describe, expect, it } from "vitest";
import { combineFilter, equals, field, nextSort, quote, sortDirection } from "./filter";

describe("filter helpers", () => {
  it("quotes strings", () => {
    expect(quote('a "b" \\c')).toBe('"a \\"b\\" \\\\c"');
  });
  it("builds field paths", () => {
    expect(field("config", "lr")).toBe("config.lr");
    expect(field("summary", "val/loss")).toBe("summary.val/loss");
    expect(field("config", "model.layers")).toBe("config.model.layers");
    expect(field("summary", "a b")).toBe('summary."a b"');
  });
  it("combines search and expression", () => {
    expect(combineFilter("", "")).toBe("");
    expect(combineFilter(" bert ", "")).toBe('name ~ "bert"');
    expect(combineFilter("", "config.lr > 1")).toBe("config.lr > 1");
    expect(combineFilter("x", "a = 1 or b = 2")).toBe('name ~ "x" and (a = 1 or b = 2)');
  });
  it("cycles sort", () => {
    expect(nextSort("", "name")).toBe("name");
    expect(nextSort("name", "name")).toBe("-name");
    expect(nextSort("-name", "name")).toBe("");
    expect(nextSort("-created_at", "name")).toBe("name");
    expect(sortDirection("-summary.acc,name", "summary.acc")).toBe("desc");
    expect(sortDirection("name", "state")).toBeNull();
  });
  it("makes equality clauses", () => {
    expect(equals("config.lr", 0.1)).toBe("config.lr = 0.1");
    expect(equals("config.opt", "adam")).toBe('config.opt = "adam"');
  });
});
