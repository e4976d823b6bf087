/** A protobuf Timestamp as the SDK hands it over (seconds may be a Long). */
export interface TimestampLike {
  seconds?: number | { toString(): string } | null;
  nanos?: number | null;
}

/** Milliseconds since the epoch; null for an unset (or zero) timestamp. */
export function tsToMs(ts: TimestampLike | null | undefined): number | null {
  if (!ts?.seconds) return null;
  const ms = Number(ts.seconds.toString()) * 1_000 + Math.floor((ts.nanos ?? 0) / 1_000_000);
  return ms > 0 ? ms : null;
}
