#!/bin/sh
# decide X Y STEP F0 F1 F2 F3 F4: move to the best of the five evaluated points
# (centre, +x, -x, +y, -y), or halve the step when the centre is best.
# Prints the new state as JSON.
x=$1 y=$2 step=$3
shift 3
awk -v x="$x" -v y="$y" -v s="$step" -v f="$*" 'BEGIN {
  n = split(f, v, " ")
  best = 1
  for (i = 2; i <= n; i++) if (v[i] < v[best]) best = i
  if (best == 2) x += s; else if (best == 3) x -= s; else if (best == 4) y += s; else if (best == 5) y -= s
  else s = s / 2
  printf "{\"x\": %.10g, \"y\": %.10g, \"step\": %.10g, \"f\": %.10g}\n", x, y, s, v[best]
}'
