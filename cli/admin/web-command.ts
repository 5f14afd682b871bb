import { Type } from '@sinclair/typebox';
import type { Command } from 'commander';
import { compile } from '../../protocol/validate.js';
import { ApiClient } from '../api-client.js';
import { locateMaster } from '../master-location.js';

const SignInLink = compile('web sign-in link', Type.Object({ url: Type.String(), user: Type.String(), expiresInSeconds: Type.Number() }));

/**
 * `qfarm web`: a one-time link that signs this user into the dashboard (as Jupyter's token
 * URL). The master makes it for whoever asks over the API socket or with their token, so the
 * browser session is that user, never a name typed into a form.
 */
export function registerWebCommand(program: Command): void {
  program
    .command('web')
    .description('print a one-time link that signs you into the web dashboard (valid 5 minutes)')
    .action(async () => {
      const link = await new ApiClient(locateMaster()).post('/web/sign-in-link', {}, SignInLink);
      process.stdout.write(`Open this link to sign in to the qfarm dashboard as ${link.user} (works once, for ${Math.round(link.expiresInSeconds / 60)} minutes):\n\n    ${link.url}\n\n`);
    });
}
