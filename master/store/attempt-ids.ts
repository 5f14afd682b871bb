import { randomUUID } from 'node:crypto';

/**
 * A new attempt id: a UUID version 7 (RFC 9562), the creation time in milliseconds first, then
 * 74 random bits. Ids made one after another sort together, so each lease adds its key at the
 * end of the attempts table's primary-key index, on the page the previous lease wrote, instead of
 * on a random page of an index as large as the farm's history (one more page in the WAL per
 * lease, measured in bench:agents). Ids are not secrets: an agent may act only on attempts leased
 * to it (attempt-ownership.ts), whatever ids it knows.
 */
export function newAttemptId(now: number = Date.now()): string {
  // 48 bits of milliseconds: until the year 10889.
  const time = Math.min(Math.max(Math.trunc(now), 0), 2 ** 48 - 1).toString(16).padStart(12, '0');
  // randomUUID is a version 4 UUID: its random bits after the version digit, variant included.
  const random = randomUUID();
  return `${time.slice(0, 8)}-${time.slice(8, 12)}-7${random.slice(15)}`;
}
