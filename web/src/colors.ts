// Run colours: a run keeps its colour in every panel, table and page,
// because it is picked from the run id, not from its position.

const palette = [
  "#2f7ed8",
  "#e8590c",
  "#2b9348",
  "#c92a2a",
  "#7048e8",
  "#8d6e63",
  "#d6336c",
  "#5c940d",
  "#1098ad",
  "#f08c00",
  "#364fc7",
  "#a61e4d",
  "#087f5b",
  "#9c36b5",
  "#495057",
  "#e67700",
  "#0b7285",
  "#5f3dc4",
  "#74b816",
  "#d9480f",
];

/** FNV-1a, 32 bit. */
export function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function runColor(runId: string): string {
  return palette[hash(runId) % palette.length];
}

/** The colour with an alpha, for faint raw lines and bands. */
export function withAlpha(hex: string, alpha: number): string {
  const a = Math.round(Math.min(1, Math.max(0, alpha)) * 255)
    .toString(16)
    .padStart(2, "0");
  return `${hex}${a}`;
}
