import { RebalancerError } from '../errors.js';
import { SingleObjectCodec } from './single-object.js';

/**
 * A single-object codec that refuses, unread, a payload longer than `maxBytes`
 * (REB_DECODE_TOO_LARGE), so a huge record never reaches avsc's decoder nor anything
 * built from what it decodes. Encoding is unchanged.
 */
export class BoundedSingleObjectCodec<T> extends SingleObjectCodec<T> {
  constructor(
    private readonly recordName: string,
    schemas: readonly object[],
    readonly maxBytes: number,
  ) {
    super(recordName, schemas);
  }

  override decode(buf: Buffer): T {
    if (buf.length > this.maxBytes) {
      throw new RebalancerError('REB_DECODE_TOO_LARGE', `${this.recordName}: payload of ${buf.length} bytes is over the ${this.maxBytes}-byte limit`, { bytes: buf.length, limit: this.maxBytes });
    }
    return super.decode(buf);
  }
}
