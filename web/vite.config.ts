import { defineConfig } from "vitest/config";

// The dev server proxies the API to a running `fluoro server` (FLUORO_URL,
// default http://127.0.0.1:8080) so `npm run dev` works against real data.
const api = process.env.FLUORO_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 800 },
  // The login link (?token=) goes to the server too, which sets the cookie on this origin.
  server: { proxy: { "/api": api, "^/[^?]*\\?(.*&)?token=": api } },
  test: { environment: "happy-dom", include: ["src/**/*.test.ts"] },
});
