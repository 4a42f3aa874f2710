package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// rssSampler reads a process's VmRSS from /proc every interval, keeps the
// peak, and closes abort once the RSS passes a limit.
type rssSampler struct {
	pid      int
	abortKiB int64
	peakKiB  atomic.Int64
	lastKiB  atomic.Int64
	abort    chan struct{} // closed when VmRSS passed abortKiB
	quit     chan struct{}
	done     chan struct{}
	once     sync.Once
	hwmKiB   int64
	result   int64
}

// startRSSSampler starts sampling pid; abortKiB <= 0 never aborts.
func startRSSSampler(pid int, interval time.Duration, abortKiB int64) (*rssSampler, error) {
	s := &rssSampler{pid: pid, abortKiB: abortKiB, abort: make(chan struct{}),
		quit: make(chan struct{}), done: make(chan struct{})}
	if err := s.sample(); err != nil {
		return nil, err
	}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-t.C:
				_ = s.sample() // fails only once the broker is gone
			}
		}
	}()
	return s, nil
}

func (s *rssSampler) sample() error {
	rss, _, err := readProcStatus(s.pid)
	if err != nil {
		return err
	}
	s.lastKiB.Store(rss)
	if rss > s.peakKiB.Load() {
		s.peakKiB.Store(rss)
	}
	if s.abortKiB > 0 && rss > s.abortKiB && !s.exceeded() {
		close(s.abort)
	}
	return nil
}

// current returns the last VmRSS read, in KiB.
func (s *rssSampler) current() int64 { return s.lastKiB.Load() }

// exceeded reports whether the RSS passed the abort line.
func (s *rssSampler) exceeded() bool {
	select {
	case <-s.abort:
		return true
	default:
		return false
	}
}

// stop ends the sampling and returns the peak VmRSS sampled (raised to the
// final VmHWM if the process is still there) and that VmHWM, in KiB.
func (s *rssSampler) stop() (peakKiB, hwmKiB int64) {
	s.once.Do(func() {
		close(s.quit)
		<-s.done
		_ = s.sample()
		if _, hwm, err := readProcStatus(s.pid); err == nil {
			s.hwmKiB = hwm
		}
		s.result = max(s.peakKiB.Load(), s.hwmKiB)
	})
	return s.result, s.hwmKiB
}

// readProcStatus returns VmRSS and VmHWM of pid, in KiB.
func readProcStatus(pid int) (rssKiB, hwmKiB int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) < 2 {
			continue
		}
		switch string(f[0]) {
		case "VmRSS:":
			rssKiB, _ = strconv.ParseInt(string(f[1]), 10, 64)
		case "VmHWM:":
			hwmKiB, _ = strconv.ParseInt(string(f[1]), 10, 64)
		}
	}
	if rssKiB == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS (process gone?)", pid)
	}
	return rssKiB, hwmKiB, nil
}
