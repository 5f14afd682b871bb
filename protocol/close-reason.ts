/** RFC 6455 allows 123 bytes of UTF-8 in a close reason (125 minus the 2-byte code); `ws` throws beyond. */
export const MAX_CLOSE_REASON_BYTES = 123;

/**
 * Cuts a WebSocket close reason to 123 bytes without splitting a UTF-8 character, so a reason
 * quoting a multibyte host or attempt name never makes `ws.close` throw.
 */
export function closeReason(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= MAX_CLOSE_REASON_BYTES) return text;
  let end = MAX_CLOSE_REASON_BYTES;
  // Back up over continuation bytes (10xxxxxx) to the start of the character that does not fit.
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}
