#!/usr/bin/env bash
# Server time (curl's time to first byte on loopback) of the dashboard's pages, 11 runs each:
# min / median / max in ms. Usage: measure_pages.sh [BASE_URL] against a development-mode server
# (no login) with a fleet whose station ids are A0001... and B0001... (docs/dashboard.md).
B=${1:-http://127.0.0.1:18490}
for path in "/" "/ui/stations" "/ui/stations?page=200" "/ui/stations?q=b0999" "/ui/stations?protocol=ocpp2.0.1&status=Charging&page=20" "/ui/stations?connection=disconnected&page=199" "/ui/stations/B05000" "/ui/stations/B05000?fragment=1" "/ui/selector-count?connectorStatus=Available" "/ui/alerts" "/ui/jobs" "/api/v1/stations?limit=50"; do
  ts=()
  for i in $(seq 1 11); do ts+=("$(curl -s -o /dev/null -w '%{time_starttransfer}' "$B$path")"); done
  printf '%s\n' "${ts[@]}" | sort -n | awk -v p="$path" '{a[NR]=$1*1000} END {printf "%-60s min %6.1f  median %6.1f  max %6.1f ms\n", p, a[1], a[6], a[11]}'
done
