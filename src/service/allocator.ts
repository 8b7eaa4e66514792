/**
 * glibc's malloc and a long-running trainer: the advice the service gives at start.
 *
 * glibc serves allocations of at least M_MMAP_THRESHOLD (128 KiB) with mmap, returned to the
 * system on free, but raises that threshold (up to 32 MiB) each time such a block is freed, so
 * from then on the model snapshots, batch messages and fetch buffers of a few MiB that the
 * service allocates and frees many times a second come from the heap, whose free space is
 * fragmented and kept: resident memory grows for hours. Setting the threshold explicitly
 * (MALLOC_MMAP_THRESHOLD_, read by glibc at process start: mallopt(3)) turns that adjustment
 * off. Measured with the soak (`npm run bench:soak`, 2 instances at 2,000 events/s, 12 min):
 * resident memory 940–1,000 MB and rising ~13 MB/min (each minute's minimum) without it,
 * 720–790 MB and ~3–4 MB/min with it (the state still filling). A process cannot set it for
 * itself once started, so the start-up scripts, the container image and the tests' instances
 * set it, and `run` says so when it is missing.
 */
import { z } from 'zod';

const reportHeader = z.object({ header: z.object({ glibcVersionRuntime: z.string().optional() }) });

export const MMAP_THRESHOLD_ENV = 'MALLOC_MMAP_THRESHOLD_';
export const MMAP_THRESHOLD_BYTES = 131_072;

/** The warning line when the process runs on glibc without the setting, else null. */
export function allocatorAdvice(env: Readonly<Record<string, string | undefined>>, glibcVersion: string | undefined): string | null {
  if (glibcVersion === undefined || env[MMAP_THRESHOLD_ENV] !== undefined) return null;
  return `memory: ${MMAP_THRESHOLD_ENV} is not set: glibc ${glibcVersion} malloc keeps freed buffers of a few MB and resident memory grows by fragmentation (~10 MB/min measured at 1,000 events/s); start the process with ${MMAP_THRESHOLD_ENV}=${MMAP_THRESHOLD_BYTES} (docs/operations.md, "Memory")`;
}

/** glibc's version at run time, or undefined (musl, macOS, Windows). */
export function glibcVersion(): string | undefined {
  const parsed = reportHeader.safeParse(process.report.getReport());
  return parsed.success ? parsed.data.header.glibcVersionRuntime : undefined;
}
