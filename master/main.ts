#!/usr/bin/env node
import { resolveHome } from './home.js';
import { Master } from './master.js';
import { MASTER_USAGE, MasterOptionsError, parseMasterOptions } from './options.js';

/** `qfarm master` / `node dist/master/main.js`: the daemon in the foreground. */
async function main(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(MASTER_USAGE + '\n');
    return;
  }
  const options = parseMasterOptions(argv);
  const master = new Master(resolveHome(), options);
  await master.start();
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) {
      master.log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    master.log.info({ signal }, 'stopping (send the signal again to force)');
    master.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        master.log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof MasterOptionsError) {
    process.stderr.write(`qfarm master: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`qfarm master: ${(err as Error).message}\n`);
  process.exit(1);
});
