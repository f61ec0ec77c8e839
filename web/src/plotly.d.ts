// plotly.js-dist-min ships no types; the panel uses newPlot and purge only.
declare module "plotly.js-dist-min" {
  const Plotly: {
    newPlot(
      el: HTMLElement,
      data: unknown[],
      layout?: Record<string, unknown>,
      config?: Record<string, unknown>,
    ): Promise<unknown>;
    purge(el: HTMLElement): void;
    Plots: { resize(el: HTMLElement): void };
  };
  export default Plotly;
}
