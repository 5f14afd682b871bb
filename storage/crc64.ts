/**
 * CRC-64/XZ (a.k.a. CRC-64/GO-ECMA): the checksum OSS returns in `x-oss-hash-crc64ecma`.
 * Reflected, polynomial 0x42F0E1EBA9EA3693 (0xC96C5795D7870F42 reflected), init and xorout all ones.
 *
 * The hot path never touches BigInt: the 64-bit register is kept as two 32-bit halves and the
 * input is consumed 8 bytes at a time with slicing-by-8 tables (lo/hi halves in separate arrays).
 * BigInt only appears when a value leaves the class (value(), combine()).
 */

const POLY_LO = 0xd7870f42;
const POLY_HI = 0xc96c5795;

/** TABLE_LO[k * 256 + i], TABLE_HI[k * 256 + i]: CRC of byte i followed by k zero bytes (k = 0..7). */
const TABLE_LO = new Uint32Array(8 * 256);
const TABLE_HI = new Uint32Array(8 * 256);

(function buildTables(): void {
  for (let i = 0; i < 256; i++) {
    let lo = i;
    let hi = 0;
    for (let bit = 0; bit < 8; bit++) {
      const carry = lo & 1;
      lo = ((lo >>> 1) | (hi << 31)) >>> 0;
      hi = hi >>> 1;
      if (carry) {
        lo = (lo ^ POLY_LO) >>> 0;
        hi = (hi ^ POLY_HI) >>> 0;
      }
    }
    TABLE_LO[i] = lo;
    TABLE_HI[i] = hi;
  }
  for (let k = 1; k < 8; k++) {
    for (let i = 0; i < 256; i++) {
      const prevLo = TABLE_LO[(k - 1) * 256 + i]!;
      const prevHi = TABLE_HI[(k - 1) * 256 + i]!;
      const idx = prevLo & 0xff;
      TABLE_LO[k * 256 + i] = (((prevLo >>> 8) | (prevHi << 24)) ^ TABLE_LO[idx]!) >>> 0;
      TABLE_HI[k * 256 + i] = ((prevHi >>> 8) ^ TABLE_HI[idx]!) >>> 0;
    }
  }
})();

/** Streaming CRC-64/XZ. `update` as often as needed, then read `value()` or `toString()`. */
export class Crc64 {
  // Register halves, kept pre-inverted (init = all ones).
  private lo = 0xffffffff | 0;
  private hi = 0xffffffff | 0;
  /** Bytes seen so far (needed to combine CRCs of concatenated pieces). */
  length = 0;

  update(data: Uint8Array): this {
    let lo = this.lo;
    let hi = this.hi;
    const n = data.length;
    let i = 0;
    const T_LO = TABLE_LO;
    const T_HI = TABLE_HI;
    const end8 = n - (n % 8);
    while (i < end8) {
      lo ^= data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
      hi ^= data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24);
      const a = 7 * 256 + (lo & 0xff);
      const b = 6 * 256 + ((lo >>> 8) & 0xff);
      const c = 5 * 256 + ((lo >>> 16) & 0xff);
      const d = 4 * 256 + (lo >>> 24);
      const e = 3 * 256 + (hi & 0xff);
      const f = 2 * 256 + ((hi >>> 8) & 0xff);
      const g = 1 * 256 + ((hi >>> 16) & 0xff);
      const h = hi >>> 24;
      lo = T_LO[a]! ^ T_LO[b]! ^ T_LO[c]! ^ T_LO[d]! ^ T_LO[e]! ^ T_LO[f]! ^ T_LO[g]! ^ T_LO[h]!;
      hi = T_HI[a]! ^ T_HI[b]! ^ T_HI[c]! ^ T_HI[d]! ^ T_HI[e]! ^ T_HI[f]! ^ T_HI[g]! ^ T_HI[h]!;
      i += 8;
    }
    while (i < n) {
      const idx = (lo ^ data[i]!) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ T_LO[idx]!;
      hi = (hi >>> 8) ^ T_HI[idx]!;
      i++;
    }
    this.lo = lo;
    this.hi = hi;
    this.length += n;
    return this;
  }

  /** The CRC as an unsigned 64-bit BigInt. */
  value(): bigint {
    return (BigInt(~this.hi >>> 0) << 32n) | BigInt(~this.lo >>> 0);
  }

  /** Decimal string, the form OSS uses in `x-oss-hash-crc64ecma`. */
  toString(): string {
    return this.value().toString(10);
  }
}

/** CRC-64/XZ of one buffer, as OSS's decimal string. */
export function crc64(data: Uint8Array): string {
  return new Crc64().update(data).toString();
}

// ---- combine: CRC(A || B) from CRC(A), CRC(B) and len(B), zlib's GF(2) matrix method -------------

const MASK64 = (1n << 64n) - 1n;
const POLY_REFLECTED = 0xc96c5795d7870f42n;

function gf2MatrixTimes(mat: bigint[], vec: bigint): bigint {
  let sum = 0n;
  let i = 0;
  while (vec !== 0n) {
    if (vec & 1n) sum ^= mat[i]!;
    vec >>= 1n;
    i++;
  }
  return sum;
}

function gf2MatrixSquare(mat: bigint[]): bigint[] {
  const square: bigint[] = new Array(64);
  for (let n = 0; n < 64; n++) square[n] = gf2MatrixTimes(mat, mat[n]!);
  return square;
}

/** ZERO_BYTES_OPS[k]: the operator that appends 2^k zero bytes to a CRC register; built lazily, shared. */
const ZERO_BYTES_OPS: bigint[][] = [];

function zeroBytesOp(k: number): bigint[] {
  while (ZERO_BYTES_OPS.length <= k) {
    if (ZERO_BYTES_OPS.length === 0) {
      // One zero bit, then square three times: one zero byte.
      let op: bigint[] = new Array(64);
      op[0] = POLY_REFLECTED;
      let row = 1n;
      for (let n = 1; n < 64; n++) {
        op[n] = row;
        row <<= 1n;
      }
      for (let i = 0; i < 3; i++) op = gf2MatrixSquare(op);
      ZERO_BYTES_OPS.push(op);
    } else {
      ZERO_BYTES_OPS.push(gf2MatrixSquare(ZERO_BYTES_OPS[ZERO_BYTES_OPS.length - 1]!));
    }
  }
  return ZERO_BYTES_OPS[k]!;
}

/**
 * CRC of the concatenation A||B given crcA = CRC(A), crcB = CRC(B) and lenB = byte length of B
 * (zlib's crc32_combine method in GF(2), with the power-of-two operators cached, so a call costs
 * a few dozen matrix-vector products). Used to derive a multipart object's CRC from its parts'.
 */
export function combineCrc64(crcA: bigint, crcB: bigint, lenB: number): bigint {
  let crc = crcA & MASK64;
  let len = lenB;
  for (let k = 0; len > 0; k++, len = Math.floor(len / 2)) {
    if (len % 2 === 1) crc = gf2MatrixTimes(zeroBytesOp(k), crc);
  }
  return (crc ^ crcB) & MASK64;
}

/** Parse OSS's decimal header value; undefined when absent or malformed. */
export function parseCrc64Header(value: string | string[] | undefined): string | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || !/^\d{1,20}$/.test(v)) return undefined;
  return BigInt(v).toString(10);
}
