#!/usr/bin/env bash
# Runs `streammask audit verify` and prints its outcome as Prometheus text on stdout (verify's own report
# goes to stderr, for the job's log). The proxy cannot check its audit trail while it runs; this, on a
# schedule (a daily CronJob), is what the StreamMaskAuditVerifyFailed and StreamMaskAuditVerifyNotRun
# alerts read.
#
#   usage: ops/audit-verify.sh GROUP --config FILE [--since TIME]    (GROUP: the config's group_id)
#
# Hand the output to Prometheus through node_exporter's textfile collector (write, then rename, so the
# collector never reads half a file):
#   ops/audit-verify.sh g1 --config c.yaml > "$DIR/streammask-audit-g1.prom.tmp"; mv "$DIR/streammask-audit-g1.prom.tmp" "$DIR/streammask-audit-g1.prom"
# or a Pushgateway, grouped by group so that groups do not replace each other's result:
#   ops/audit-verify.sh g1 --config c.yaml | curl -fsS --data-binary @- http://pushgateway:9091/metrics/job/streammask_audit_verify/group/g1
#
# Exits with verify's status (0 the trail matches, 1 a mismatch, 2 it could not check), so the scheduler
# sees a failure too. STREAMMASK names the command (default: streammask).
set -uo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 GROUP --config FILE [--since TIME]" >&2
  exit 2
fi
group=$1
shift
label=${group//\\/\\\\}   # a label value escapes \ and "
label=${label//\"/\\\"}
started=$(date +%s)
"${STREAMMASK:-streammask}" audit verify "$@" >&2
rc=$?
cat <<METRICS
# HELP streammask_audit_verify_exit_code Exit status of the last streammask audit verify: 0 the trail matches, 1 a mismatch, 2 it could not check.
# TYPE streammask_audit_verify_exit_code gauge
streammask_audit_verify_exit_code{group="$label"} $rc
# HELP streammask_audit_verify_last_run_timestamp_seconds Unix time the last streammask audit verify started.
# TYPE streammask_audit_verify_last_run_timestamp_seconds gauge
streammask_audit_verify_last_run_timestamp_seconds{group="$label"} $started
METRICS
exit "$rc"
