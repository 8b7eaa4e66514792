/**
 * The native tensor-handle high-water mark of this thread's tfjs-node backend.
 *
 * tfjs-node 4.22's binding numbers every TFE tensor handle it creates with an `int32_t`
 * counter (`TFJSBackend::next_tensor_id_`, binding/tfjs_backend.cc, `InsertHandle`) that is
 * never reset and has no overflow check (tfjs issue 8735, fix PR 8739 unmerged): past 2^31
 * ids go negative, past 2^32 a new handle can take a live weight's id. The counter is not
 * exposed, but the binding's public `createTensor` returns the id it just assigned: one
 * throw-away scalar handle (created and deleted at once) reads the counter exactly. The
 * engine's JS tensor ids (`tensor.id`) are a different counter (JS Tensor objects, not
 * native handles) and do not tell.
 */
import { nodeBackend } from '@tensorflow/tfjs-node/dist/nodejs_kernel_backend.js';

const PROBE = new Float32Array(1);

/** Native tensor handles created so far on this thread (the id the next handle gets). */
export function tensorIdHighWater(): number {
  const binding = nodeBackend().binding;
  const id = binding.createTensor([], binding.TF_FLOAT, PROBE);
  binding.deleteTensor(id);
  // The counter is int32 in C++: read it as unsigned so a wrapped counter still compares high.
  return id >>> 0;
}
