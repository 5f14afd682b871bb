import * as path from 'node:path';
import { ApiClient } from '../api-client.js';
import { CliError } from '../cli-errors.js';
import { locateMaster } from '../master-location.js';
import { StoreResolver } from '../../storage/open-store.js';
import { downloadTree } from '../../storage/download-tree.js';
import { readManifest } from '../../render/manifest.js';

/**
 * `qfarm get JOB DIR`: downloads what the job's tasks uploaded from `$OUTDIR` (its `-outdir`
 * location) into DIR, verifying each file's CRC-64 where the store provides one.
 */
export async function getOutputs(jobRef: string, dir: string, log: (line: string) => void): Promise<void> {
  if (!/^\d+$/.test(jobRef)) throw new CliError(`qfarm get: "${jobRef}" is not a job id`, 2, 'use the number qsub printed, e.g. qfarm get 42 ./results');
  const client = new ApiClient(locateMaster());
  const answer = await client.get(`/jobs/${jobRef}`, 'jobDetailResponse');
  const job = answer.jobs[0];
  if (!job) throw new CliError(`qfarm get: job ${jobRef} does not exist`, 1);
  // Outputs are the owner's (as a job's -o files are in SGE): refuse before touching them.
  const me = await client.get('/identity', 'identityResponse');
  if (job.submitter.user !== me.user && !me.mayActOnAll) {
    throw new CliError(`qfarm get: job ${jobRef} belongs to ${job.submitter.user}; ${me.user} may not download its outputs`, 1, 'only the owner, root and managers may');
  }
  const outputUrl = job.data?.outputUrl;
  if (!outputUrl) {
    // A file:// render writes its frames straight into its output directory: nothing was uploaded.
    const manifest = job.command.kind === 'script' ? readManifest(job.command.script) : null;
    if (manifest !== null) {
      const where = manifest.kind === 'render' ? manifest.output : `the output of render job ${manifest.renderJobId}`;
      throw new CliError(`qfarm get: render job ${jobRef} wrote its frames straight into ${where}; nothing was uploaded to download`, 1, `'qfarm render get ${jobRef} DIR' copies its frames (without the tiles) into DIR`);
    }
    throw new CliError(`qfarm get: job ${jobRef} has no output location`, 1, 'submit with qsub -outdir oss://bucket/prefix/ (or file:///dir/) so that each task\'s $OUTDIR is kept');
  }
  const dest = path.resolve(dir);
  let files = 0;
  const result = await downloadTree(outputUrl, dest, {
    resolver: new StoreResolver(),
    onFile: () => {
      files++;
      if (files % 100 === 0) log(`  ${files} files...`);
    },
  });
  log(`downloaded ${result.files} file(s), ${result.bytes} bytes from ${outputUrl} to ${dest}`);
}
