#!/usr/bin/env bash
# A single-node KRaft Kafka broker on 127.0.0.1 for development, tests and CI.
# No Docker: the broker's jars come from Maven Central through pom.xml beside this file.
#
#   kafka.sh install   fetch the jars (idempotent)
#   kafka.sh start     install if needed, format storage once, start, wait until it answers
#   kafka.sh stop      stop the broker this script started
#   kafka.sh status    exit 0 and print "running" when it answers, exit 1 otherwise
#
# Environment: KAFKA_PORT (default 9092), KAFKA_CONTROLLER_PORT (default 9093),
# BRAID_KAFKA_HOME (state folder, default infra/kafka/.run), KAFKA_HEAP (default 512m).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PORT="${KAFKA_PORT:-9092}"
CPORT="${KAFKA_CONTROLLER_PORT:-9093}"
STATE="${BRAID_KAFKA_HOME:-$HERE/.run}"
LIB="$HERE/target/lib"
PIDFILE="$STATE/kafka.pid"
LOGFILE="$STATE/kafka.log"
PROPS="$STATE/server.properties"
HEAP="${KAFKA_HEAP:-512m}"

log() { echo "[kafka] $*" >&2; }

installed() { [ -f "$LIB/.complete" ]; }

install() {
  if installed; then log "jars present in $LIB"; return 0; fi
  command -v mvn >/dev/null || { log "mvn not found: install Maven (apt-get install maven)"; exit 2; }
  command -v java >/dev/null || { log "java not found: install a JDK 17+"; exit 2; }
  log "fetching the Kafka broker jars from Maven Central"
  (cd "$HERE" && mvn -q -B dependency:copy-dependencies -DoutputDirectory=target/lib -DincludeScope=runtime)
  touch "$LIB/.complete"
}

pid_alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

# The broker answers when its port accepts a TCP connection and it has logged that it started.
answers() {
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || return 1
  grep -q "Kafka Server started\|\[KafkaRaftServer nodeId=1\] Kafka Server started" "$LOGFILE" 2>/dev/null
}

write_props() {
  mkdir -p "$STATE/data"
  cat > "$PROPS" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$STATE/data
num.partitions=1
# A single broker: every internal topic has one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=-1
PROPS
}

start() {
  if pid_alive && answers; then log "already running on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"; return 0; fi
  install
  mkdir -p "$STATE"
  write_props
  local cp="$LIB/*"
  if [ ! -f "$STATE/data/meta.properties" ]; then
    log "formatting storage in $STATE/data"
    java -cp "$cp" kafka.tools.StorageTool format --standalone \
      --cluster-id "$(java -cp "$cp" kafka.tools.StorageTool random-uuid)" \
      --config "$PROPS" >>"$LOGFILE" 2>&1
  fi
  log "starting the broker on 127.0.0.1:$PORT (log: $LOGFILE)"
  nohup java -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=info \
    -cp "$cp" kafka.Kafka "$PROPS" >>"$LOGFILE" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 120); do
    if answers; then log "running (pid $(cat "$PIDFILE"))"; return 0; fi
    if ! pid_alive; then log "the broker exited; last lines of $LOGFILE:"; tail -20 "$LOGFILE" >&2; exit 1; fi
    sleep 0.5
  done
  log "the broker did not answer within 60 s; see $LOGFILE"; exit 1
}

stop() {
  if ! pid_alive; then log "not running"; rm -f "$PIDFILE"; return 0; fi
  local pid; pid="$(cat "$PIDFILE")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PIDFILE"
  log "stopped"
}

status() {
  if pid_alive && answers; then echo "running on 127.0.0.1:$PORT (pid $(cat "$PIDFILE"))"; return 0; fi
  echo "not running"; return 1
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
