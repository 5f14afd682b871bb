import uPlot from 'uplot';
import { html } from 'htm/preact';
import { useEffect, useRef } from 'preact/hooks';

/** A small uPlot line chart; `data[0]` is time in seconds. Redrawn in place when data changes. */
export function Chart(props: { xLabels?: string[]; data: number[][]; series: { label: string; stroke: string; fill?: string }[]; width?: number; height?: number; yLabel?: string; bars?: boolean; xTime?: boolean; title?: string }) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  useEffect(() => {
    if (!el.current) return;
    const opts: uPlot.Options = {
      width: props.width ?? 260,
      height: props.height ?? 80,
      legend: { show: false },
      cursor: { show: true, y: false },
      scales: { x: { time: props.xTime !== false, ...(props.xLabels ? { range: (): [number, number] => [0.5, props.xLabels!.length + 0.5] } : {}) }, ...(props.bars ? { y: { range: (_u: uPlot, _min: number, max: number): [number, number] => [0, max > 0 ? max * 1.1 : 1] } } : {}) },
      axes: [
        { stroke: '#8a93a6', grid: { stroke: '#2a3040', width: 1 }, ticks: { show: false }, size: 22, font: '10px system-ui', ...(props.xTime === false ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000] } : {}), ...(props.xLabels ? { values: (_u: uPlot, ticks: number[]) => ticks.map((t) => props.xLabels![t - 1] ?? '') } : {}), ...(props.xTime !== false ? { values: (_u: uPlot, ticks: number[]) => ticks.map((t) => new Date(t * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })) } : {}) },
        { stroke: '#8a93a6', grid: { stroke: '#2a3040', width: 1 }, ticks: { show: false }, size: 32, font: '10px system-ui', ...(props.yLabel ? { label: props.yLabel, labelSize: 14 } : {}) },
      ],
      series: [{}, ...props.series.map((s) => ({ label: s.label, stroke: s.stroke, fill: s.fill ?? 'transparent', width: 1.5, ...(props.bars ? { paths: uPlot.paths.bars!({ size: [0.8, 40] }) } : {}) }))],
    };
    plot.current = new uPlot(opts, props.data as uPlot.AlignedData, el.current);
    return () => plot.current?.destroy();
  }, []);
  useEffect(() => {
    plot.current?.setData(props.data as uPlot.AlignedData);
  }, [props.data]);
  return html`<div class="chart" ref=${el} aria-label=${props.title ?? 'chart'}></div>`;
}
