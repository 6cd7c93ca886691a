package main

import (
	"math/bits"
	"time"
)

// histogram counts latencies in log-linear buckets, HDR style: exact below
// 64 ns, then 64 buckets per power of two, so any recorded value is known
// to within 1/64 (1.6 %). Recording is an array increment; histograms of
// the generator's workers are merged at the end.
type histogram struct {
	counts [64 * 60]int64
	n      int64
	sum    int64
	max    int64
}

const subBucketBits = 6

func bucketOf(v int64) int {
	if v < 1<<subBucketBits {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	e := 63 - bits.LeadingZeros64(uint64(v)) // e >= subBucketBits
	sub := (v >> (e - subBucketBits)) & (1<<subBucketBits - 1)
	return (e-subBucketBits+1)<<subBucketBits + int(sub)
}

// bucketHigh is the largest value that falls in bucket b.
func bucketHigh(b int) int64 {
	if b < 1<<subBucketBits {
		return int64(b)
	}
	e := b>>subBucketBits + subBucketBits - 1
	sub := int64(b & (1<<subBucketBits - 1))
	low := (1<<subBucketBits + sub) << (e - subBucketBits)
	return low + 1<<(e-subBucketBits) - 1
}

func (h *histogram) record(d time.Duration) {
	v := int64(d)
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += v
	h.max = max(h.max, v)
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the latency below which a fraction q of the recorded
// values lie (the upper edge of the bucket holding it).
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen int64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketHigh(b), h.max))
		}
	}
	return time.Duration(h.max)
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}
