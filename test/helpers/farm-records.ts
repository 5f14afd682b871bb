import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { AccountingRecord } from '../../protocol/api.js';
import type { TestFarm } from './farm.js';

/** What a farm's own records say, read as a user would (its store, qacct, qfarm logs): for tests that count results and lines. */

export function query<T>(farm: TestFarm, sql: string, ...params: unknown[]): T[] {
  const db = new Database(path.join(farm.home, 'store.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** The accounting API's records of a job (what `qacct -j` prints, as data). */
export async function accountingRecords(farm: TestFarm, jobId: number): Promise<AccountingRecord[]> {
  return ((await farm.api('GET', `/accounting?job=${jobId}`)) as { records: AccountingRecord[] }).records;
}

export async function qacctRecords(farm: TestFarm, jobId: number): Promise<string[]> {
  const res = await farm.run('qacct', ['-j', String(jobId)]);
  if (res.code !== 0) throw new Error(`qacct -j ${jobId} failed (${res.code}): ${res.stderr}`);
  // qacct prints one record per task, each introduced by a line of '=' (as SGE does).
  return res.stdout.split(/^=+$/m).filter((r) => r.trim() !== '');
}

export async function logs(farm: TestFarm, ref: string): Promise<string> {
  const res = await farm.run('qfarm', ['logs', ref]);
  if (res.code !== 0) throw new Error(`qfarm logs ${ref} failed (${res.code}): ${res.stderr}`);
  return res.stdout;
}
