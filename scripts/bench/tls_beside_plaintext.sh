#!/bin/bash
# TLS beside PLAINTEXT (docs/PERFORMANCE.md): produce and consume over a PLAINTEXT and an SSL
# listener of one broker. Run from the repository root after `cargo build --release -p tidelog`;
# writes several GB under WORK_DIR (default target/bench-work/tls) and removes them at the end.
set -e
B=${TIDELOG:-$PWD/target/release/tidelog}
W=${WORK_DIR:-$PWD/target/bench-work/tls}
mkdir -p $W
cd $W
rm -rf DATA; mkdir -p DATA
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=bench-ca 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.crt -days 1 -extfile san.ext 2>/dev/null
cat server.key server.crt > server.pem
$B serve --log-dirs $W/DATA --listeners PLAINTEXT://127.0.0.1:19492,SSL://127.0.0.1:19493 \
  --override ssl.keystore.type=PEM --override ssl.keystore.location=$W/server.pem --override http.listeners= --override log.segment.delete.delay.ms=0 > serve.log 2>&1 &
SERVE=$!
sleep 2
TLS="-X security.protocol=ssl -X ssl.ca.location=$W/ca.pem"
$B -b 127.0.0.1:19492 bench produce --topic tls --partitions 8 --records 1000 > /dev/null
$B -b 127.0.0.1:19492 bench produce --topic plain --partitions 8 --records 1000 > /dev/null
for i in 1 2; do
  $B -b 127.0.0.1:19492 bench produce --topic plain --partitions 8 --duration 10 2>&1 | grep -i "MB/s" | head -2
  $B -b 127.0.0.1:19493 $TLS bench produce --topic tls --partitions 8 --duration 10 2>&1 | grep -i "MB/s" | head -2
done
for i in 1 2; do
  $B -b 127.0.0.1:19492 bench consume --topic tls 2>&1 | grep -i "MB/s" | head -2
  $B -b 127.0.0.1:19493 $TLS bench consume --topic tls 2>&1 | grep -i "MB/s" | head -2
done
du -sh DATA
kill $SERVE; wait $SERVE || true
rm -rf DATA
