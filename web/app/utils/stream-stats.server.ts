/** Counters of this web process's event streams, for /metrics and the tests. */
export const streamStats = {
  /** Event streams open now. */
  open: 0,
  /** Story events written to all streams since start. */
  eventsSent: 0,
  /** Calls this process made to Temporal, by gRPC method (counted by a client interceptor). */
  temporalRpcs: {} as Record<string, number>,
};
