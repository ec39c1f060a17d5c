#!/usr/bin/env python3
"""Replays Kafka's byte-rate quota (and Tidelog's, which is the same) in synthetic time.

A producer offering 50 MB/s sends requests of REQUEST MB, the next as soon as the broker
stops muting it; the broker measures a Rate over SAMPLES windows of 1 s (Kafka's
SampledStat: a sample starts at the first record after the previous one's second is over,
samples older than all the windows are reset, a rate over fewer than SAMPLES - 1 whole
windows is divided as if they had passed) and mutes for Kafka's throttle time,
(rate - quota) / quota x window size (QuotaUtils.throttleTime). With --first-window, the
rate in the first-ever window is divided by one window, as Kafka's trunk Rate.windowSize
now does. Prints the producer's rate over its first 20 s, over the 20 s after one window
span, the largest over any 20 s, and over 60 s, against a 1 MB/s quota.

    python3 scripts/quota_window_sim.py            # 11 samples, Kafka's default
    python3 scripts/quota_window_sim.py --samples 2
"""

import argparse

WINDOW_MS = 1000
QUOTA_MB = 1.0
OFFERED_MB = 50.0


class Rate:
    def __init__(self, samples, first_window):
        self.samples, self.first_window = samples, first_window
        self.ring = [[0, 0.0]]  # [start ms, total MB]
        self.current, self.reset = 0, False

    def record(self, value, now):
        if now - self.ring[self.current][0] >= WINDOW_MS:
            self.current = (self.current + 1) % self.samples
            if self.current < len(self.ring):
                self.ring[self.current] = [now, 0.0]
            else:
                self.ring.append([now, 0.0])
        self.ring[self.current][1] += value

    def window_size(self, now):
        for sample in self.ring:
            if now - sample[0] >= self.samples * WINDOW_MS:
                sample[:] = [now, 0.0]
                self.reset = True
        elapsed = now - min(s[0] for s in self.ring)
        full = elapsed // WINDOW_MS
        if self.first_window and len(self.ring) == 1 and not self.reset and full == 0:
            return WINDOW_MS
        least = self.samples - 1
        return elapsed + (least - full) * WINDOW_MS if full < least else elapsed

    def throttle_ms(self, now):
        size = self.window_size(now)
        observed = sum(s[1] for s in self.ring) * 1000.0 / size
        if observed <= QUOTA_MB:
            return 0
        return min((observed - QUOTA_MB) / QUOTA_MB * size, self.samples * WINDOW_MS)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=11)
    parser.add_argument("--request-mb", type=float, default=1.0)
    parser.add_argument("--first-window", action="store_true")
    args = parser.parse_args()
    rate, now, sent = Rate(args.samples, args.first_window), 0, []
    while now < 80_000:
        rate.record(args.request_mb, now)
        sent.append(now)
        paced = args.request_mb / OFFERED_MB * 1000
        now = int(round(now + max(rate.throttle_ms(now), paced)))

    def over(start, ms=20_000):
        return sum(args.request_mb for t in sent if start <= t < start + ms) * 1000 / ms

    span = args.samples * WINDOW_MS
    worst = max(over(s) for s in range(0, 60_000, 250))
    print(f"first 20 s {over(0):.2f} MB/s, 20 s after {span} ms {over(span):.2f} MB/s, "
          f"largest over 20 s {worst:.2f} MB/s, 60 s {over(0, 60_000):.2f} MB/s")


if __name__ == "__main__":
    main()
