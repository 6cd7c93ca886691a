// Package procstat reads a process's CPU time, and the whole machine's,
// from Linux's /proc, for the load test and the benchmarks that count
// another process's CPU (a PostgreSQL backend) or their own.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// CPU returns the user plus system CPU seconds process pid has used: 0 if
// it cannot be read (no /proc, or the process is gone).
func CPU(pid int) float64 {
	buf, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may contain spaces; fields start after its ')'.
	s := string(buf)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks
}

// Machine returns the seconds all CPUs of the machine have spent busy and
// in all, summed over the CPUs, from /proc/stat; 0, 0 if it cannot be
// read. Busy is everything but idle and iowait, so two readings give the
// share of the machine busy between them, whoever the work was for (the
// kernel's network work and a database's background processes included).
func Machine() (busy, total float64) {
	buf, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(buf), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	var ticks, idle int64
	for i, s := range f[1:] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0
		}
		// guest and guest_nice (fields 9 and 10) are already in user
		// and nice.
		if i >= 8 {
			break
		}
		ticks += v
		if i == 3 || i == 4 { // idle, iowait
			idle += v
		}
	}
	return float64(ticks-idle) / clockTicks, float64(ticks) / clockTicks
}
