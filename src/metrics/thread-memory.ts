/**
 * Memory of one thread, for the per-thread memory metrics: resident memory
 * (`process_resident_memory_bytes`) is the whole process, so a growth there needs the
 * threads' own figures to be traced (JS heap, off-heap buffers, live tensors).
 */
import { getHeapStatistics } from 'node:v8';
import { z } from 'zod';

export interface ThreadMemory {
  /** The thread's V8 heap in use (each worker thread has its own isolate and heap). */
  heapUsedBytes: number;
  /** The heap's pages in physical memory (what the heap adds to RSS, free space within it included). */
  heapCommittedBytes: number;
  /** Memory outside the heap that the thread's JS objects hold (ArrayBuffers, native handles V8 is told of). */
  externalBytes: number;
}

/** Live TensorFlow tensors of a thread (tf.memory(); the native backend's buffers are not in the JS heap). */
export interface TensorMemory {
  tensors: number;
  tensorBytes: number;
}

const bytes = z.number().finite().min(0);
export const threadMemorySchema = z.object({ heapUsedBytes: bytes, heapCommittedBytes: bytes, externalBytes: bytes });
export const tensorMemorySchema = z.object({ tensors: z.number().int().min(0), tensorBytes: bytes });

/** The calling thread's heap figures (a few µs). */
export function threadMemory(): ThreadMemory {
  const h = getHeapStatistics();
  return { heapUsedBytes: h.used_heap_size, heapCommittedBytes: h.total_physical_size, externalBytes: h.external_memory };
}
