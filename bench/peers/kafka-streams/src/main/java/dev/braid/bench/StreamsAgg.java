package dev.braid.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.streams.AutoOffsetReset;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.Stores;
import org.apache.kafka.streams.state.WindowStore;
import org.apache.kafka.streams.state.WindowStoreIterator;

/**
 * The Kafka Streams side of bench/streams.ts: the view braid's speed layer computes,
 *
 *   events [type], granularity minute, dimensions [data.<dimension>],
 *   measures { n: count, total: sum data.<sum>, users: distinct key }
 *
 * over a braid topic (record value = the stored event's JSON {id,type,time,key?,data?}),
 * read from the beginning with a fresh application.id, until every partition has been
 * consumed up to the given end offsets. Then it writes every group as JSON to --out and one
 * JSON line of timings to stdout, and exits.
 *
 * One processor per task (= per input partition) aggregates into an in-memory key-value
 * store (changelog off: braid's speed layer keeps no durable state either); the partial
 * aggregates of the partitions are merged at the end through interactive queries. There is
 * no repartition: like braid's speed layer, it groups locally, then merges.
 *
 * distinct is braid's HyperLogLog exactly (shared/measures/hll.ts): p = 14, h = the first
 * 8 bytes of md5(UTF-8 string) little-endian, idx = h & 0x3fff, rank = trailing zeros of
 * h >>> 14 plus one (51 when zero), the same estimator. Equal registers on both sides is
 * checked through a checksum of the sorted non-zero registers.
 *
 * --dedupe memory|rocksdb gives the peer braid's dedupe work (contract §3) before it aggregates:
 * a record is dropped when an earlier record of its partition (= its task) had the same id
 * and an append time (the record timestamp, which braid's producer sets to the append time)
 * at most --window-ms before it; every record, dropped or not, counts as an earlier one for
 * the later ones, whatever its type. Per task, one state store of recent ids, changelog off
 * like the aggregate store:
 *
 *   memory   an in-memory KeyValueStore id → latest append time, as braid's speed layer keeps
 *            (speed/dedupe.ts); a stream-time punctuator every window/16 deletes the ids older
 *            than the task's stream time − window − skew, as braid's eviction does
 *   rocksdb  a persistent (RocksDB) WindowStore keyed by id, retention window + skew, one entry
 *            per (id, append time); a record is a duplicate when fetch(id, t − window, ∞) finds
 *            one: the Kafka Streams deduplication recipe
 *
 * Arguments: --bootstrap host:port --topic T --end o0,o1,... --out file
 *            [--type page_view] [--dimension country] [--sum latency_ms] [--threads 1]
 *            [--dedupe none|memory|rocksdb] [--window-ms 86400000] [--skew-ms 300000]
 */
public final class StreamsAgg {
  static final int P = 14;
  static final int M = 1 << P;
  static final int SPARSE_LIMIT = 1024;
  static final long CHECKSUM_MOD = 1_000_000_007L;

  /** Per partition, the next offset to consume (the consumed position). */
  static AtomicLongArray progress;
  static final AtomicLong firstRecordNanos = new AtomicLong(0);
  static final AtomicLong recordsSeen = new AtomicLong(0);
  static final AtomicLong recordsMatched = new AtomicLong(0);
  static final AtomicLong recordsDuplicate = new AtomicLong(0);

  public static void main(String[] argv) throws Exception {
    Map<String, String> args = new HashMap<>();
    for (int i = 0; i + 1 < argv.length; i += 2) args.put(argv[i].replaceFirst("^--", ""), argv[i + 1]);
    String bootstrap = args.getOrDefault("bootstrap", "127.0.0.1:9092");
    String topic = required(args, "topic");
    long[] end = Arrays.stream(required(args, "end").split(",")).mapToLong(Long::parseLong).toArray();
    String out = required(args, "out");
    String type = args.getOrDefault("type", "page_view");
    String dimension = args.getOrDefault("dimension", "country");
    String sumField = args.getOrDefault("sum", "latency_ms");
    int threads = Integer.parseInt(args.getOrDefault("threads", "1"));
    long timeoutMs = Long.parseLong(args.getOrDefault("timeout-ms", "600000"));
    String appId = args.getOrDefault("application-id", "braid-bench-streams-" + System.currentTimeMillis());
    String dedupe = args.getOrDefault("dedupe", "none");
    if (!dedupe.equals("none") && !dedupe.equals("memory") && !dedupe.equals("rocksdb")) throw new IllegalArgumentException("--dedupe must be none, memory or rocksdb, not " + dedupe);
    long windowMs = Long.parseLong(args.getOrDefault("window-ms", "86400000"));
    long skewMs = Long.parseLong(args.getOrDefault("skew-ms", "300000"));

    progress = new AtomicLongArray(end.length);
    File stateDir = Files.createTempDirectory("braid-bench-streams").toFile();

    Properties props = new Properties();
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
    props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.getAbsolutePath());
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);

    final String storeName = "agg";
    StreamsBuilder builder = new StreamsBuilder();
    builder.addStateStore(
        Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(storeName), Serdes.String(), new AggSerde())
            .withLoggingDisabled()
            .withCachingDisabled());
    final String dedupeStore = "dedupe";
    if (dedupe.equals("memory")) {
      builder.addStateStore(
          Stores.keyValueStoreBuilder(Stores.inMemoryKeyValueStore(dedupeStore), Serdes.String(), Serdes.Long())
              .withLoggingDisabled()
              .withCachingDisabled());
    } else if (dedupe.equals("rocksdb")) {
      Duration retention = Duration.ofMillis(windowMs + skewMs);
      builder.addStateStore(
          Stores.windowStoreBuilder(Stores.persistentWindowStore(dedupeStore, retention, Duration.ofMillis(windowMs), false), Serdes.String(), Serdes.Long())
              .withLoggingDisabled()
              .withCachingDisabled());
    }
    String[] stores = dedupe.equals("none") ? new String[] {storeName} : new String[] {storeName, dedupeStore};
    builder.stream(topic, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()).withOffsetResetPolicy(AutoOffsetReset.earliest()))
        .process(() -> new AggProcessor(storeName, type, dimension, sumField, dedupe, dedupeStore, windowMs, skewMs), stores);

    KafkaStreams streams = new KafkaStreams(builder.build(), props);
    streams.setUncaughtExceptionHandler(e -> {
      e.printStackTrace();
      System.exit(3);
      return null;
    });

    long started = System.nanoTime();
    streams.start();
    long deadline = started + timeoutMs * 1_000_000L;
    while (!reached(end)) {
      if (System.nanoTime() > deadline) {
        System.err.println("timed out before reaching the end offsets; at " + progress);
        System.exit(4);
      }
      Thread.sleep(2);
    }
    long done = System.nanoTime();

    // Merge the partitions' partial aggregates (one store per task) through interactive queries.
    while (streams.state() != KafkaStreams.State.RUNNING) Thread.sleep(5);
    ReadOnlyKeyValueStore<String, Agg> store =
        streams.store(StoreQueryParameters.fromNameAndType(storeName, QueryableStoreTypes.<String, Agg>keyValueStore()));
    Map<String, Agg> merged = new HashMap<>();
    try (KeyValueIterator<String, Agg> it = store.all()) {
      while (it.hasNext()) {
        KeyValue<String, Agg> kv = it.next();
        merged.merge(kv.key, kv.value, Agg::absorb);
      }
    }
    long mergedAt = System.nanoTime();

    ObjectMapper mapper = new ObjectMapper();
    ArrayNode rows = mapper.createArrayNode();
    for (Map.Entry<String, Agg> e : merged.entrySet()) {
      int sep = e.getKey().indexOf('\u0000');
      Agg a = e.getValue();
      ObjectNode row = rows.addObject();
      row.put("bucket", Long.parseLong(e.getKey().substring(0, sep)));
      String dim = e.getKey().substring(sep + 1);
      if (dim.equals("\u0001")) row.putNull("dim");
      else row.put("dim", dim);
      row.put("count", a.count);
      if (a.hasSum) row.put("sum", a.sum);
      else row.putNull("sum");
      row.put("distinct", a.estimate());
      row.put("registers", a.registerCount());
      row.put("checksum", a.checksum());
    }
    mapper.writeValue(new File(out), rows);
    streams.close(Duration.ofSeconds(30));
    streams.cleanUp();
    // cleanUp leaves a RocksDB store's directory (the dedupe variant's): the whole state dir goes.
    try (var paths = Files.walk(stateDir.toPath())) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    }

    long firstAt = firstRecordNanos.get();
    ObjectNode timing = mapper.createObjectNode();
    timing.put("applicationId", appId);
    timing.put("threads", threads);
    timing.put("dedupe", dedupe);
    timing.put("records", recordsSeen.get());
    timing.put("duplicates", recordsDuplicate.get());
    timing.put("matched", recordsMatched.get());
    timing.put("groups", merged.size());
    timing.put("seconds", (done - started) / 1e9);
    timing.put("startupSeconds", (firstAt - started) / 1e9);
    timing.put("processingSeconds", (done - firstAt) / 1e9);
    timing.put("mergeSeconds", (mergedAt - done) / 1e9);
    timing.put("eventsPerSecond", Math.round(recordsSeen.get() / ((done - started) / 1e9)));
    timing.put("eventsPerSecondAfterStartup", Math.round(recordsSeen.get() / ((done - firstAt) / 1e9)));
    System.out.println(mapper.writeValueAsString(timing));
    System.exit(0);
  }

  static String required(Map<String, String> args, String name) {
    String v = args.get(name);
    if (v == null) throw new IllegalArgumentException("--" + name + " is required");
    return v;
  }

  static boolean reached(long[] end) {
    for (int p = 0; p < end.length; p++) if (progress.get(p) < end[p]) return false;
    return true;
  }

  /** Drops duplicates (with --dedupe), filters, groups by (minute bucket, dimension) and folds into its task's store. */
  static final class AggProcessor implements Processor<byte[], byte[], Void, Void> {
    private final String storeName;
    private final String type;
    private final String dimension;
    private final String sumField;
    private final String dedupe;
    private final String dedupeStoreName;
    private final long windowMs;
    private final long skewMs;
    private final ObjectMapper mapper = new ObjectMapper();
    private final MessageDigest md5;
    private ProcessorContext<Void, Void> context;
    private KeyValueStore<String, Agg> store;
    private KeyValueStore<String, Long> seenLatest;
    private WindowStore<String, Long> seenWindow;

    AggProcessor(String storeName, String type, String dimension, String sumField, String dedupe, String dedupeStoreName, long windowMs, long skewMs) {
      this.storeName = storeName;
      this.type = type;
      this.dimension = dimension;
      this.sumField = sumField;
      this.dedupe = dedupe;
      this.dedupeStoreName = dedupeStoreName;
      this.windowMs = windowMs;
      this.skewMs = skewMs;
      try {
        this.md5 = MessageDigest.getInstance("MD5");
      } catch (NoSuchAlgorithmException e) {
        throw new IllegalStateException(e);
      }
    }

    @Override
    public void init(ProcessorContext<Void, Void> context) {
      this.context = context;
      this.store = context.getStateStore(storeName);
      if (dedupe.equals("memory")) {
        this.seenLatest = context.getStateStore(dedupeStoreName);
        // braid's eviction (speed/dedupe.ts): every window/16 of the partition's append time,
        // the ids whose latest append time is before newest − window − skew go.
        context.schedule(Duration.ofMillis(Math.max(1, windowMs / 16)), PunctuationType.STREAM_TIME, this::evict);
      } else if (dedupe.equals("rocksdb")) {
        this.seenWindow = context.getStateStore(dedupeStoreName);
      }
    }

    private void evict(long streamTime) {
      long horizon = streamTime - windowMs - skewMs;
      List<String> old = new ArrayList<>();
      try (KeyValueIterator<String, Long> it = seenLatest.all()) {
        while (it.hasNext()) {
          KeyValue<String, Long> kv = it.next();
          if (kv.value < horizon) old.add(kv.key);
        }
      }
      for (String id : old) seenLatest.delete(id);
    }

    @Override
    public void process(Record<byte[], byte[]> record) {
      firstRecordNanos.compareAndSet(0, System.nanoTime());
      recordsSeen.incrementAndGet();
      try {
        fold(record.value(), record.timestamp());
      } finally {
        context.recordMetadata().ifPresent(m -> progress.set(m.partition(), m.offset() + 1));
      }
    }

    /** Contract §3 for this record of this task's partition: records it, tells whether it is a duplicate. */
    private boolean duplicate(String id, long appendTime) {
      if (seenLatest != null) {
        Long prev = seenLatest.get(id);
        if (prev == null || appendTime > prev) seenLatest.put(id, appendTime);
        return prev != null && prev >= appendTime - windowMs;
      }
      boolean seen;
      try (WindowStoreIterator<Long> it = seenWindow.fetch(id, appendTime - windowMs, Long.MAX_VALUE)) {
        seen = it.hasNext();
      }
      seenWindow.put(id, appendTime, appendTime);
      return seen;
    }

    private void fold(byte[] value, long appendTime) {
      JsonNode event;
      try {
        event = mapper.readTree(value);
      } catch (Exception e) {
        throw new IllegalStateException("undecodable record", e);
      }
      if ((seenLatest != null || seenWindow != null) && duplicate(event.get("id").asText(), appendTime)) {
        recordsDuplicate.incrementAndGet();
        return;
      }
      if (!type.equals(event.path("type").asText())) return;
      recordsMatched.incrementAndGet();
      long time = event.get("time").asLong();
      long bucket = Math.floorDiv(time, 60_000L) * 60_000L;
      JsonNode data = event.path("data");
      String dim = dimensionValue(data.path(dimension));
      String key = bucket + "\u0000" + (dim == null ? "\u0001" : dim);
      Agg agg = store.get(key);
      if (agg == null) agg = new Agg();
      agg.count++;
      JsonNode s = data.path(sumField);
      if (s.isNumber()) {
        agg.sum += s.asDouble();
        agg.hasSum = true;
      }
      JsonNode k = event.get("key");
      String distinct = k != null && k.isTextual() ? k.asText() : event.get("id").asText(); // key ?? id
      agg.add(md5.digest(distinct.getBytes(StandardCharsets.UTF_8)));
      store.put(key, agg);
    }
  }

  /** braid's dimensionValue: strings as they are, numbers and booleans as JSON text, else null. */
  static String dimensionValue(JsonNode v) {
    if (v.isTextual()) return v.asText();
    if (v.isNumber() || v.isBoolean()) return v.toString();
    return null;
  }

  /** count, sum and a HyperLogLog (sparse: sorted idx*64+rank ints; dense: M bytes). */
  static final class Agg {
    long count;
    double sum;
    boolean hasSum;
    int[] sparse = new int[0];
    byte[] dense;

    void add(byte[] digest) {
      long h = ByteBuffer.wrap(digest, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
      int idx = (int) (h & (M - 1));
      long w = h >>> P;
      int rank = w == 0 ? 64 - P + 1 : Long.numberOfTrailingZeros(w) + 1;
      addRegister(idx, rank);
    }

    void addRegister(int idx, int rank) {
      if (dense != null) {
        if (rank > dense[idx]) dense[idx] = (byte) rank;
        return;
      }
      int lo = 0, hi = sparse.length - 1;
      while (lo <= hi) {
        int mid = (lo + hi) >>> 1;
        int midIdx = sparse[mid] >>> 6;
        if (midIdx < idx) lo = mid + 1;
        else if (midIdx > idx) hi = mid - 1;
        else {
          if (rank > (sparse[mid] & 63)) sparse[mid] = idx * 64 + rank;
          return;
        }
      }
      int[] next = new int[sparse.length + 1];
      System.arraycopy(sparse, 0, next, 0, lo);
      next[lo] = idx * 64 + rank;
      System.arraycopy(sparse, lo, next, lo + 1, sparse.length - lo);
      sparse = next;
      if (sparse.length > SPARSE_LIMIT) {
        dense = new byte[M];
        for (int p : sparse) dense[p >>> 6] = (byte) (p & 63);
        sparse = null;
      }
    }

    Agg absorb(Agg from) {
      count += from.count;
      sum += from.sum;
      hasSum |= from.hasSum;
      if (from.dense != null) {
        for (int i = 0; i < M; i++) if (from.dense[i] != 0) addRegister(i, from.dense[i]);
      } else {
        for (int p : from.sparse) addRegister(p >>> 6, p & 63);
      }
      return this;
    }

    int registerCount() {
      if (dense == null) return sparse.length;
      int n = 0;
      for (byte r : dense) if (r != 0) n++;
      return n;
    }

    /** Over the sorted non-zero registers: c = (c * 31 + idx * 64 + rank) mod 1e9+7 (bench/streams.ts does the same). */
    long checksum() {
      long c = 0;
      if (dense == null) {
        for (int p : sparse) c = (c * 31 + p) % CHECKSUM_MOD;
      } else {
        for (int i = 0; i < M; i++) if (dense[i] != 0) c = (c * 31 + i * 64L + dense[i]) % CHECKSUM_MOD;
      }
      return c;
    }

    /** shared/measures/hll.ts hllEstimate: the standard estimator, linear counting when small. */
    long estimate() {
      double sum = 0;
      int zeros = 0;
      if (dense != null) {
        for (int i = 0; i < M; i++) {
          sum += Math.pow(2, -dense[i]);
          if (dense[i] == 0) zeros++;
        }
      } else {
        zeros = M - sparse.length;
        sum = zeros;
        for (int p : sparse) sum += Math.pow(2, -(p & 63));
      }
      double alpha = 0.7213 / (1 + 1.079 / M);
      double raw = alpha * M * M / sum;
      if (raw <= 2.5 * M && zeros > 0) return Math.round(M * Math.log((double) M / zeros));
      return Math.round(raw);
    }
  }

  static final class AggSerde implements Serde<Agg> {
    @Override
    public Serializer<Agg> serializer() {
      return (topic, a) -> {
        if (a == null) return null;
        int n = a.dense != null ? M : a.sparse.length * 4;
        ByteBuffer b = ByteBuffer.allocate(8 + 8 + 1 + 1 + 4 + n);
        b.putLong(a.count).putDouble(a.sum).put((byte) (a.hasSum ? 1 : 0));
        if (a.dense != null) {
          b.put((byte) 1).putInt(M).put(a.dense);
        } else {
          b.put((byte) 0).putInt(a.sparse.length);
          for (int p : a.sparse) b.putInt(p);
        }
        return b.array();
      };
    }

    @Override
    public Deserializer<Agg> deserializer() {
      return (topic, bytes) -> {
        if (bytes == null) return null;
        ByteBuffer b = ByteBuffer.wrap(bytes);
        Agg a = new Agg();
        a.count = b.getLong();
        a.sum = b.getDouble();
        a.hasSum = b.get() == 1;
        boolean dense = b.get() == 1;
        int n = b.getInt();
        if (dense) {
          a.sparse = null;
          a.dense = new byte[n];
          b.get(a.dense);
        } else {
          a.sparse = new int[n];
          for (int i = 0; i < n; i++) a.sparse[i] = b.getInt();
        }
        return a;
      };
    }
  }
}
