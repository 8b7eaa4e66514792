import { createEventCodec, makeEvent, type InteractionEvent } from '../src/codec/index.js';
import { Rng } from '../src/balance/rng.js';
import { opsPerSecond, result, type Benchmark } from './harness.js';

/** Realistic events: ids of typical lengths, a quarter with the optional fields set. */
function sampleEvents(n: number): InteractionEvent[] {
  const rng = new Rng(7);
  const types = ['view', 'click', 'add_to_cart', 'purchase'] as const;
  return Array.from({ length: n }, (_, i) => makeEvent({
    eventId: `evt-${(1e9 + i).toString(36)}-${rng.nextUint32().toString(36)}`,
    userId: `user-${rng.int(1_000_000)}`,
    itemId: `item-${rng.int(200_000)}`,
    categoryId: `cat-${rng.int(1000)}`,
    type: types[rng.int(4)]!,
    eventTime: 1_767_225_600_000 + i * 37,
    ...(i % 4 === 0 ? { price: rng.int(100_000) / 100, sessionId: `s-${rng.int(1e6)}` } : {}),
  }));
}

export const benchmarks: Benchmark[] = [{
  name: 'codec',
  async run(ctx) {
    const codec = createEventCodec();
    const events = sampleEvents(10_000);
    const avro = events.map((e) => codec.encode(e));
    // Confluent framing under two ids (v1 and v2 writers, as a registry would number them),
    // learned up front: what a consumer decodes once the registry lookups are cached.
    const [ID_V1, ID_V2] = [101, 102];
    codec.learnSchemaId(ID_V1, codec.schemaOf(1));
    codec.learnSchemaId(ID_V2, codec.schemaOf(2));
    const confluent = events.map((e) => codec.encodeConfluent(ID_V2, e));
    const json = events.map((e) => Buffer.from(JSON.stringify(e)));
    const ms = ctx.quick ? 600 : 3000;
    let sink = 0;
    // Interleave the rival runs so that machine noise hits both alike.
    const decodeAvro = (): number => { for (const b of avro) sink += codec.decode(b).eventTime & 1; return avro.length; };
    const decodeConfluent = (): number => { for (const b of confluent) sink += codec.decode(b).eventTime & 1; return confluent.length; };
    const decodeJson = (): number => { for (const b of json) sink += (JSON.parse(b.toString('utf8')) as InteractionEvent).eventTime & 1; return json.length; };
    const encodeAvro = (): number => { for (const e of events) sink += codec.encode(e).length; return events.length; };
    const encodeJson = (): number => { for (const e of events) sink += Buffer.from(JSON.stringify(e)).length; return events.length; };
    for (const f of [decodeAvro, decodeConfluent, decodeJson, encodeAvro, encodeJson]) opsPerSecond(f, 200);
    // The two framings are compared in alternating rounds (median of each), so a slow
    // moment of the shared machine does not fall on one side only.
    const rounds = 7;
    const aRates: number[] = [];
    const cRates: number[] = [];
    for (let r = 0; r < rounds; r++) {
      aRates.push(opsPerSecond(decodeAvro, ms / rounds));
      cRates.push(opsPerSecond(decodeConfluent, ms / rounds));
    }
    const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    const da = median(aRates);
    const dc = median(cRates);
    const dj = opsPerSecond(decodeJson, ms);
    const ea = opsPerSecond(encodeAvro, ms);
    const ej = opsPerSecond(encodeJson, ms);
    const avroBytes = avro.reduce((s, b) => s + b.length, 0) / avro.length;
    const jsonBytes = json.reduce((s, b) => s + b.length, 0) / json.length;
    ctx.log(`codec: ${avroBytes.toFixed(1)} B/event Avro vs ${jsonBytes.toFixed(1)} B/event JSON (sink ${sink & 1})`);
    return [
      result('codec.decode', da, 'events/s', { name: 'JSON.parse', value: dj }, `Buffer -> event incl. header check; target ratio >= 2`),
      result('codec.decode_confluent', dc, 'events/s', { name: 'codec.decode (single-object)', value: da }, 'Confluent-framed Buffer (0x00 + schema id, id learned from the registry, i.e. cached) -> event; target ratio >= 0.9'),
      result('codec.encode', ea, 'events/s', { name: 'JSON.stringify', value: ej }, `event -> framed Buffer`),
      result('codec.bytes_per_event', avroBytes, 'bytes', { name: 'JSON bytes', value: jsonBytes }),
    ];
  },
}];
