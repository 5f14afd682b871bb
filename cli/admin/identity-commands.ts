import type { Command } from 'commander';
import { ApiClient } from '../api-client.js';
import { CliError } from '../cli-errors.js';
import { locateMaster } from '../master-location.js';
import { writeTokenAsUser } from './write-user-token.js';

/**
 * `qfarm whoami`, `qfarm token create|list|revoke` (per-user API tokens for remote CLI users,
 * root only) and `qfarm manager add|remove|list` (SGE's qconf -am/-dm/-sm). Registered by
 * cli/qfarm.ts.
 */

const print = (line: string): void => void process.stdout.write(`${line}\n`);
const client = (): ApiClient => new ApiClient(locateMaster());
const when = (ms: number | null): string => (ms === null ? 'never' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

export function registerIdentityCommands(program: Command): void {
  program
    .command('whoami')
    .description('who the master takes you for, and how it knows (socket peer, admin token, your token)')
    .action(async () => {
      const me = await client().get('/identity', 'identityResponse');
      print(`${me.user} (uid ${me.uid}, gid ${me.gid} ${me.group}) via ${me.via}${me.mayActOnAll ? ', may act on every job' : ''}`);
    });

  const token = program.command('token').description('per-user API tokens for CLI users on other machines (root only)');
  token
    .command('create')
    .description("issue a token for USER and write it to ~USER/.qfarm/api-token (0600, written as USER); --print shows it instead")
    .argument('<user>')
    .option('--print', 'print the token instead of writing it (give it to the user yourself)', false)
    .action(async (user: string, opts: { print: boolean }) => {
      const issued = await client().post('/tokens', { user }, 'tokenCreateResponse');
      if (opts.print) {
        print(issued.token);
        return;
      }
      const file = await writeTokenAsUser(issued, issued.token);
      print(`token ${issued.id} for ${issued.user} written to ${file}`);
    });
  token
    .command('list')
    .description('issued tokens: id, user, created, last used (never the tokens)')
    .action(async () => {
      const { tokens } = await client().get('/tokens', 'tokenListResponse');
      print(`${'ID'.padEnd(10)}${'USER'.padEnd(18)}${'CREATED'.padEnd(22)}LAST USED`);
      for (const t of tokens) print(`${t.id.padEnd(10)}${t.user.padEnd(18)}${when(t.createdAt).padEnd(22)}${when(t.lastUsed)}`);
    });
  token
    .command('revoke')
    .description('revoke a token by id, or every token of a user')
    .argument('<id-or-user>')
    .action(async (target: string) => {
      const { tokens } = await client().post('/tokens/revoke', { target }, 'tokenListResponse');
      for (const t of tokens) print(`revoked token ${t.id} of ${t.user}`);
    });

  const manager = program.command('manager').description("managers may act on every job, host and group (SGE's qconf -am/-dm/-sm)");
  for (const [verb, route] of [['add', '/managers'], ['remove', '/managers/remove']] as const) {
    manager
      .command(verb)
      .description(verb === 'add' ? 'make USER a manager (root only)' : 'USER is no longer a manager (root only)')
      .argument('<user>')
      .action(async (user: string) => {
        const { messages } = await client().post(route, { user }, 'actionResponse');
        for (const m of messages) print(m.text);
        if (messages.some((m) => !m.ok)) throw new CliError(`qfarm manager ${verb} ${user}: nothing changed`, 1);
      });
  }
  manager
    .command('list')
    .description('the managers')
    .action(async () => {
      const { managers } = await client().get('/managers', 'managerListResponse');
      for (const m of managers) print(m.user);
    });
}
