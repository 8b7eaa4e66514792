import { renameSync, rmSync } from 'node:fs';
import type { Command } from 'commander';
import { RebalancerError } from '../errors.js';
import { EVENT_FILE_HELP } from '../adapters/event-file.js';
import { badFlag, intFlag, numberFlag, oneOf } from './flags.js';
import { fileSize, guessFormat, importLog, type LogFormat } from '../offline/import-log.js';
import { parseTypeMap, type ColumnMapping, type TimeUnit } from '../offline/importer.js';
import { createProgress } from './progress.js';
import { fileSink, type EventSink } from '../adapters/sink.js';
import { WIRE_FORMAT_HELP, wireFormatFromFlags } from './wire-format-flags.js';
import { addEventTargetOptions, eventTargetKind, topicSinkFromFlags, type EventTargetFlags } from './event-target-flags.js';

interface ImportFlags extends EventTargetFlags {
  format?: string;
  delimiter: string;
  userCol: string;
  itemCol: string;
  categoryCol: string;
  timeCol: string;
  typeCol?: string;
  ratingCol?: string;
  purchaseThreshold: string;
  typeMap?: string;
  timeUnit: string;
  idCol?: string;
  priceCol?: string;
  maxErrors: string;
}

export function registerImport(program: Command): void {
  const cmd = program
    .command('import')
    .description('turn an interaction log (headered CSV or JSON lines) into Avro events in an event file or a topic')
    .argument('<log>', 'the log file (.csv, or .jsonl/.ndjson/.json for JSON lines)')
    .option('--format <csv|jsonl>', 'input format (default: by file extension)')
    .option('--delimiter <c>', 'CSV field delimiter', ',')
    .option('--user-col <name>', 'column of the user id', 'user_id')
    .option('--item-col <name>', 'column of the item id', 'item_id')
    .option('--category-col <name>', 'column of the category id', 'category_id')
    .option('--time-col <name>', 'column of the event time', 'timestamp')
    .option('--time-unit <s|ms|iso>', 'unit of the time column', 'ms')
    .option('--type-col <name>', 'column of the event type (view, click, add_to_cart, purchase, or mapped with --type-map)')
    .option('--type-map <pairs>', 'extra type names, e.g. "pv=view,fav=click,buy=purchase"')
    .option('--rating-col <name>', 'instead of --type-col: rating column; rating >= --purchase-threshold is a purchase, else a click')
    .option('--purchase-threshold <x>', 'rating from which a row is a purchase', '4')
    .option('--id-col <name>', 'column of a unique event id (default: derived from the row and its line number)')
    .option('--price-col <name>', 'column of the unit price (optional)')
    .option('--max-errors <n>', 'rejected rows tolerated before the import stops', '100');
  addEventTargetOptions(cmd, 'write an event file')
    .addHelpText('after', `
Each rejected row is printed as "line N: reason" on stderr and counted; a summary ends the run.
An import that yields no event (every row rejected, or no data rows) fails with exit code 2.
Event times from 1970-01-01 to 2100-01-01 (UTC) are accepted, so logs of any age import as
they are; the service counts events older than its window as late, it does not reject them.
Rows keep the log's order (sort the log by time first if the service should see them in order).
With --out the file appears only when the import succeeds; with --topic, rows sent before a
stop stay in the topic (their ids are deterministic, so re-importing is deduplicated downstream).
${WIRE_FORMAT_HELP}
${EVENT_FILE_HELP}`)
    .action(async (log: string, flags: ImportFlags) => {
      await runImport(log, flags);
    });
}

async function runImport(log: string, flags: ImportFlags): Promise<void> {
  if ((flags.typeCol === undefined) === (flags.ratingCol === undefined)) {
    throw new RebalancerError('REB_INPUT_INVALID', 'give exactly one of --type-col or --rating-col (with --purchase-threshold)');
  }
  const target = eventTargetKind(flags);
  const format: LogFormat = flags.format === undefined ? guessFormat(log) : oneOf('format', flags.format, ['csv', 'jsonl'] as const);
  if (flags.delimiter === '\\t') flags.delimiter = '\t';
  if (flags.delimiter.length !== 1 || flags.delimiter === '"') badFlag('delimiter', 'one character other than "', flags.delimiter);
  const mapping: ColumnMapping = {
    userCol: flags.userCol,
    itemCol: flags.itemCol,
    categoryCol: flags.categoryCol,
    timeCol: flags.timeCol,
    typeCol: flags.typeCol,
    ratingCol: flags.ratingCol,
    purchaseThreshold: numberFlag('purchase-threshold', flags.purchaseThreshold, -Number.MAX_VALUE),
    timeUnit: oneOf<TimeUnit>('time-unit', flags.timeUnit, ['s', 'ms', 'iso']),
    idCol: flags.idCol,
    priceCol: flags.priceCol,
    typeMap: parseTypeMap(flags.typeMap),
  };
  const maxErrors = intFlag('max-errors', flags.maxErrors, 0, Number.MAX_SAFE_INTEGER);
  const wireFormat = wireFormatFromFlags(flags, target);
  const size = fileSize(log);
  const partial = flags.out === undefined ? undefined : `${flags.out}.partial`;
  const sink: EventSink = partial !== undefined
    ? fileSink(partial, `import ${log}`)
    : await topicSinkFromFlags(flags, 'import', wireFormat);
  const progress = createProgress({ label: 'import', total: size, unit: 'bytes', quiet: flags.quiet });
  let ok = false;
  try {
    const summary = await importLog({
      path: log,
      format,
      delimiter: flags.delimiter,
      mapping,
      maxErrors,
      onReject: (line, reason) => console.error(`${log}: line ${line}: ${reason}`),
      onProgress: (b) => progress.update(b),
    }, sink);
    progress.stop();
    await sink.close();
    ok = true;
    const target = flags.out ?? `topic ${flags.topic!}`;
    console.error(`imported ${summary.imported} of ${summary.rows} rows to ${target}; rejected ${summary.rejected}`);
    for (const [reason, n] of Object.entries(summary.reasons).sort((a, b) => b[1] - a[1])) console.error(`  ${String(n).padStart(8)}  ${reason}`);
  } finally {
    progress.stop();
    if (!ok) await sink.close().catch(() => {});
    if (partial !== undefined) {
      if (ok) renameSync(partial, flags.out!);
      else rmSync(partial, { force: true });
    }
  }
}
