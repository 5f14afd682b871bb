import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { FramesPage, type FrameView } from '../../protocol/web-api.js';
import { getChecked } from '../api.js';
import { useInOrder } from '../in-order.js';
import { Chart } from '../chart.js';

/**
 * A render job's frames: a thumbnail per finished frame of any format (Blender writes them,
 * render/blender-thumbnail.ts; other renderers' PNGs qfarm-thumbnail), failed frames with their
 * last log lines, and time per frame.
 */
export function FrameGrid(props: { jobId: number; tick: number }) {
  const [page, setPage] = useState<FramesPage | null>(null);
  const inOrder = useInOrder();
  useEffect(() => inOrder(getChecked(`/web/jobs/${props.jobId}/frames?offset=0&limit=200`, FramesPage), setPage, () => setPage(null)), [props.jobId, props.tick]);
  if (!page?.render) return null;
  if (page.tiled) return html`<div class="frames muted">This job renders tiles; its frames (and their thumbnails) belong to the stitch job that follows it.</div>`;
  const timed = page.frames.filter((f) => f.secondsPerFrame !== null);
  return html`<div class="frames">
    <div class="frames-head">
      <h3>frames</h3>
      <span class="muted">${page.frames.filter((f) => f.state === 'done').length}/${page.frames.length} done · <a class="download" href=${`/api/v1/web/jobs/${props.jobId}/frames.tar`} download>download frames (.tar)</a> <span class="muted">or</span> <code>qfarm render get ${props.jobId} DIR</code></span>
    </div>
    <div class="frame-grid">
      ${page.frames.map(
        (f) => html`<figure class=${`frame ${f.state}`} data-frame=${f.frame} key=${f.frame} title=${f.lastLines.join('\n')}>
          ${f.thumbnail ? html`<img src=${f.thumbnail} alt=${`frame ${f.frame}`} loading="lazy" />` : html`<div class="frame-empty">${f.state}</div>`}
          <figcaption>${f.frame}${f.secondsPerFrame !== null ? html` <span class="muted">${f.secondsPerFrame.toFixed(1)}s</span>` : ''}</figcaption>
          ${f.state === 'failed' && f.lastLines.length ? html`<pre class="frame-log">${f.lastLines.join('\n')}</pre>` : ''}
        </figure>`,
      )}
    </div>
    ${timed.length > 1
      ? html`<div class="frame-times"><h3>seconds per frame</h3><${Chart} xTime=${false} bars=${true} data=${[timed.map((f) => f.frame), timed.map((f) => f.secondsPerFrame!)]} series=${[{ label: 's/frame', stroke: '#f5a524', fill: 'rgba(245,165,36,0.5)' }]} width=${560} height=${120} /></div>`
      : ''}
  </div>`;
}
