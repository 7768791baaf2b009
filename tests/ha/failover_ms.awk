# ms from t (epoch seconds, -v t=...) to the first echo reply in a
# `ping -D` log that follows a gap of at least 50 ms: the first answer from
# the VIP's new owner. Replies still in flight from the dead node (no gap
# yet) are skipped. Prints nothing if pings did not resume.
/bytes from/ {
    ts = substr($1, 2, length($1) - 2) + 0
    if (ts > t + 0 && prev > 0 && ts - prev > 0.05) { printf "%d\n", (ts - t) * 1000; exit }
    prev = ts
}
