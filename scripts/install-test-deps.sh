#!/usr/bin/env bash
# Debian packages the test suite needs (run as root; CI runs it from .ci/run):
#   supervisor  — the differential config test reads configs with supervisor 4.2's own parser
#   util-linux  — setpriv, for parent-death signals
#   procps      — ps, used in diagnostics
#   logrotate   — the log tests rotate drover's files with the real logrotate and postrotate USR1
#   systemd     — systemd-socket-activate, to test `drover serve` under socket activation
#   iproute2    — ss, to check that the master never accepts a connection
#   strace      — watches the master's fsync calls on the journal (journal_fsync)
#   chromium    — the web page test drives headless Chromium (through playwright-core)
#   redis-server — the shared primitives run their suite on the Redis backend too (each test file starts its own server)
#   nginx-light — the web server of the container example (examples/docker), run under drover as PID 1 in the container test
#   curl        — the container test requests the example's pages from inside its network namespace
#   php-cgi     — a real FastCGI server: the [fcgi-program:x] test runs it on a drover-made tcp and unix socket
#   openssl     — makes the self-signed certificate the https health probe is tested against
#   faketime    — libfaketime steps the wall clock of one drover (the clock-jump tests), not the machine's
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends supervisor util-linux procps logrotate systemd iproute2 strace chromium redis-server nginx-light curl php-cgi openssl faketime >/dev/null
echo "test dependencies installed: $(/usr/bin/python3 -c 'import supervisor.options, pkgutil; print("supervisor", pkgutil.get_data("supervisor", "version.txt").decode().strip())')"
