#!/usr/bin/env bash
# Rewrites the seed corpora of tests/fuzz/corpus/ from tests/fixtures/proc
# (run it again when the fixtures change). The config and duration seeds are
# written here by hand, and so are the rule and chat seeds. corpus/overrides
# and corpus/maintenance are hand-written and kept as they are. corpus/state,
# corpus/outbox and corpus/history are kept as they are: files
# serialize_state(), Outbox::serialize() and History::serialize() wrote
# (alerts firing, acked, muted; a failing probe; notifications folded and
# dropped; no metric, one with gaps, two with different intervals). Inputs the fuzzer finds are never added to the repo by
# run.sh: only crashing ones, into regressions/.
# Usage: tests/fuzz/seed.sh
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../fixtures/proc
# The order in which probes_fuzz.cpp's framing lists a scenario's files.
files=(loadavg stat vmstat uptime meminfo sys/vm/min_free_kbytes pressure/cpu pressure/memory pressure/io)

generated=(loadavg meminfo stat vmstat uptime pressure config duration jid probes rule chat)
for d in "${generated[@]}"; do rm -rf "corpus/$d"; mkdir -p "corpus/$d"; done

# One file of one scenario per seed, for the parser targets.
for dir in "$fixtures"/*/; do
  s=$(basename "$dir")
  for f in loadavg meminfo stat vmstat uptime; do
    [[ -f $dir/$f ]] && cp "$dir/$f" "corpus/$f/$s"
  done
  for r in cpu memory io; do
    [[ -f $dir/pressure/$r ]] && cp "$dir/pressure/$r" "corpus/pressure/$s-$r"
  done
done

# Whole trees for the probes target, in its "@@ NAME" framing.
frame() {  # SCENARIO: its files as records
  local f
  for f in "${files[@]}"; do
    [[ -f $fixtures/$1/$f ]] || continue
    printf '@@ %s\n' "$f"
    cat "$fixtures/$1/$f"
    # A file without a final newline would swallow the next header.
    [[ -z $(tail -c1 "$fixtures/$1/$f") ]] || echo
  done
}
for dir in "$fixtures"/*/; do
  s=$(basename "$dir")
  frame "$s" >"corpus/probes/$s"
done
# Two samples over different trees: counters that move on, go backwards
# (another machine), files that appear, vanish or cannot be read.
{ frame current; echo '@@ next'; frame many-cpus; } >corpus/probes/current-then-many-cpus
{ frame many-cpus; echo '@@ next'; frame current; } >corpus/probes/many-cpus-then-current
{ frame current; echo '@@ next'; frame malformed; } >corpus/probes/current-then-malformed
{ frame current; printf '@@ next\n@@ -pressure\n@@ stat/\n@@ -uptime\n'; } >corpus/probes/current-then-missing
{ frame linux-2.6.32; printf '@@ pressure\n@@ next\n@@ vmstat *120000\npgpgin 5\n'; } \
  >corpus/probes/old-kernel-then-oversized-vmstat
{ printf '@@ stat *3\n'; cat "$fixtures/current/stat"; printf '@@ sys/vm/min_free_kbytes/\n@@ meminfo\n'
  grep -v MemAvailable "$fixtures/current/meminfo"; } >corpus/probes/repeated-stat-no-memavailable

# Config files: the shapes of imwatch.conf(5).
cat >corpus/config/minimal <<'CONF'
proc-root = /proc
log-level = info
CONF
cat >corpus/config/full <<'CONF'
# imwatch configuration
; another comment
proc-root = /proc
state-dir = /var/lib/imwatch
log-level = debug
hostname = web1

[probe.loadavg]
interval = 10s
[probe.meminfo]
interval = 30s
[probe.vmstat]
interval = 500ms
[probe.pressure]
interval = 1m

[alert]
rule = load: load5_per_cpu > 1.5 for 5m
rule = oom: oom_kills > 0
repeat = 2h
flap_changes = 6
flap_window = 1h

[xmpp]
jid = agent@example.org
password = s3cr#t
host = 127.0.0.1
port = 5222
resource = web1
admin = alice@example.org
admin = bob@example.org
ca_file = /etc/ssl/certs/ca-certificates.crt
pin = sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
ping_interval = 60s
outbox_max = 1000
CONF
cat >corpus/config/credentials <<'CONF'
[xmpp]
jid = agent@example.org
admin = alice@example.org
password_file = xmpp-password
CONF
cat >corpus/config/errors <<'CONF'
[probe.loadavg
interval = 5
[alert]
repet = 2h
repeat = 0
repeat = 1s
flap_changes = 1
no equals sign
[xmpp]
admin = alice@example.org/phone
port = 99999
CONF
[[ -f ../../packaging/imwatch.conf ]] && cp ../../packaging/imwatch.conf corpus/config/packaged

for d in 0 30s 5m 2h 1d 500ms 1.5h 0.1s; do printf '%s' "$d" >"corpus/duration/$d"; done

# JIDs: plain, case and Unicode folding (Å, ß), IDNA, and near misses.
n=0
for j in 'alice@example.org' 'Ålice@Example.ORG' 'STRASSE@example.org' 'a b@c' '@' 'alice@' 'ß@bücher.example' \
  'admin@xn--bcher-kva.example' 'agent@example.org/res' 'x@[::1]' 'Ǆ@ᾼ.example' 'al\ice@example.org'; do
  n=$((n + 1))
  printf '%s' "$j" >"corpus/jid/seed$n"
done

# Rules: the packaged defaults, every clause, and near misses.
n=0
{ grep '^rule = ' ../../packaging/imwatch.conf | sed 's/^rule = //'
  cat <<'RULES'
load: load1_per_cpu > 0.1 crit 5
memory: mem_used_pct > 90 for 2m clear 85
free: mem_available_kb < 100000 crit 50000 for 30s clear 200000 repeat 2h
quiet: swap_out_kbps >= 0.5 repeat 0
low: cpu_idle_pct <= 5 for 1.5h
x: load1 > 1 for 500ms
bad: load1 >> 1
typo: laod1 > 1
RULES
} | while IFS= read -r rule; do n=$((n + 1)); printf '%s' "$rule" >"corpus/rule/$n"; done

# Chat: FROM NUL BODY (without a NUL the body comes from an admin).
chat() { printf '%s\0%s' "$1" "$2" >"corpus/chat/$3"; }
for c in help ping status alerts rules load mem vmstat psi 'mute 30m load' 'mute all' 'unmute load' unmute \
         'ack #1' 'ack 2' 'mute 1d memory'; do
  chat alice@example.org/phone "$c" "$(printf '%s' "$c" | tr ' #' '_n')"
done
chat mallory@evil.example status stranger
chat BOB@example.org/x '  PiNg ' case
printf 'reboot now' >corpus/chat/no-from

du -sh corpus
