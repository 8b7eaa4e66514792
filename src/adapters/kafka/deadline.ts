import { RebalancerError } from '../../errors.js';

/**
 * `p`, or REB_KAFKA_UNAVAILABLE ("<what> timed out after <ms> ms") when it has not settled
 * within `ms`: for Kafka calls that would otherwise wait on a broker that accepts
 * connections but does not answer. The timer is cleared either way; `p` itself is not
 * cancelled.
 */
export async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new RebalancerError('REB_KAFKA_UNAVAILABLE', `${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
