# step NAME LIMIT_S CMD... : runs CMD under a time limit, appends its output to $out/NAME.txt and a
# line with its exit code and time to $out/summary.txt. Sourced by the device-call scripts
# (gpu-suite.sh, bench/pytorch-gpu-check.sh), which set $out, so one failing step never hides the others.
step() {
  local name=$1 limit=$2; shift 2
  local t0=$(date +%s%N)
  echo "\$ $*" >> "$out/$name.txt"
  timeout "$limit" "$@" >> "$out/$name.txt" 2>&1
  local rc=$?
  printf "%-10s rc %3d  %6d ms  %s\n" "$name" $rc $(( ($(date +%s%N) - t0) / 1000000 )) "$*" | tee -a "$out/summary.txt"
}
