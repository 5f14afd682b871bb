import { test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sqlLimit } from '../../master/store/database.js';

const MASTER = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'master');

test('sqlLimit writes a whole number of rows into the SQL and refuses anything else', (t) => {
  t.equal(sqlLimit(32), 'LIMIT 32');
  t.equal(sqlLimit(0), 'LIMIT 0');
  for (const bad of [-1, 1.5, Number.NaN, Infinity, 2 ** 60]) t.throws(() => sqlLimit(bad), /not a row count/, `refuses ${bad}`);
  t.end();
});

test('no master statement binds its LIMIT, but the dashboard page the browser chooses', (t) => {
  // A bound LIMIT makes SQLite compile the statement again on every run (database.ts sqlLimit).
  const sources = fs.readdirSync(MASTER, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'));
  const inCode = (line: string): boolean => !/^\s*(\*|\/\/|\/\*)/.test(line);
  const bound = sources.filter((f) => fs.readFileSync(path.join(MASTER, f), 'utf8').split('\n').some((line) => inCode(line) && /LIMIT \?/.test(line)));
  t.same(bound, [path.join('store', 'web-reader.ts')]);
  t.end();
});
