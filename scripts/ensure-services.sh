#!/usr/bin/env bash
# Starts MariaDB, RabbitMQ and Redis on loopback when they are not already answering.
# Used by the test and demo commands; a no-op on a machine where they run.
set -uo pipefail

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
    local port=$1 name=$2
    for _ in $(seq 1 60); do
        port_open "$port" && return 0
        sleep 1
    done
    echo "ensure-services: $name did not come up on 127.0.0.1:$port" >&2
    return 1
}

if ! port_open 3306; then
    echo "ensure-services: starting MariaDB" >&2
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_port 3306 MariaDB || exit 1
fi
if ! port_open 6379; then
    echo "ensure-services: starting Redis" >&2
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
        --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_port 6379 Redis || exit 1
fi
if ! port_open 5672; then
    echo "ensure-services: starting RabbitMQ" >&2
    rabbitmq-server -detached
    wait_port 5672 RabbitMQ || exit 1
fi
exit 0
