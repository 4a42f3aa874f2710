package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// report is what one run found.
type report struct {
	cfg          config
	defaultAddr  string
	goodAddr     string
	baseline     rttResult
	attack       rttResult
	attacks      []*attackStats
	attackRan    time.Duration // until the attack goroutines had all ended
	peakSockets  int64
	pwChecks     int   // the broker's password checks at once, assumed
	rssBeforeKiB int64 // VmRSS when the attacks started
	peakRSSKiB   int64
	hwmKiB       int64
	aborted      bool // the RSS passed --abort-rss-mib
	brokerDied   bool
	interrupted  bool
}

// Terms of the stated bound formula (README, "Memory").
const (
	perSocketKiB      = 48       // a busy connection's buffers and stacks
	perPwCheckKiB     = 64 << 10 // argon2id's bounded memory parameter
	formulaRestKiB    = 50 << 10 // the rest of the heap
	runtimeKiB        = 30 << 10 // code, runtime structures and what is not Go heap
	passwordChecksDoc = "GOMAXPROCS/2"
)

// heapKiB returns the stated bound on the broker's live Go heap for this
// run, in KiB, or 0 without --memory-budget.
func (r *report) heapKiB() int64 {
	if r.cfg.memoryBudget == "" {
		return 0
	}
	return r.cfg.budgetBytes>>10 + r.peakSockets*perSocketKiB + int64(r.pwChecks)*perPwCheckKiB + formulaRestKiB
}

// memLimitKiB returns the soft memory limit jmqx serve gives the Go
// runtime for the budget: budget × 1.25 + 256 MiB.
func (r *report) memLimitKiB() int64 {
	return r.cfg.budgetBytes>>10 + r.cfg.budgetBytes>>12 + 256<<10
}

// formulaKiB returns the stated bound on the broker's RSS for this run, in
// KiB, or 0 without --memory-budget: the garbage collector keeps the heap
// under the soft memory limit unless the live heap itself is larger, so
// RSS stays below max(memory limit, live heap bound × 1.1) plus the
// runtime.
func (r *report) formulaKiB() int64 {
	h := r.heapKiB()
	if h == 0 {
		return 0
	}
	return max(r.memLimitKiB(), h+h/10) + runtimeKiB
}

// boundKiB returns the bound the peak RSS is held to (0: none) and where
// it comes from.
func (r *report) boundKiB() (int64, string) {
	switch {
	case r.cfg.boundMiB > 0:
		return int64(r.cfg.boundMiB) << 10, "--bound-mib"
	case r.formulaKiB() > 0:
		return r.formulaKiB(), "the stated bound formula, as --bound-mib is 0"
	}
	return 0, ""
}

// failures lists why the run failed; empty means it passed.
func (r *report) failures() []string {
	var f []string
	if bound, from := r.boundKiB(); bound > 0 && r.peakRSSKiB > bound {
		f = append(f, fmt.Sprintf("peak RSS %s over the bound of %s (%s)", mib(r.peakRSSKiB), mib(bound), from))
	}
	if r.aborted {
		f = append(f, fmt.Sprintf("RSS passed --abort-rss-mib %d: attacks stopped early", r.cfg.abortRSSMiB))
	}
	if r.brokerDied {
		f = append(f, "the broker exited during the run")
	}
	if r.interrupted {
		f = append(f, "interrupted")
	}
	for _, p := range []struct {
		name string
		res  rttResult
	}{{"baseline", r.baseline}, {"attack", r.attack}} {
		if p.res.failures > 0 {
			f = append(f, fmt.Sprintf("%d good round trips failed during the %s (last: %s)", p.res.failures, p.name, p.res.lastErr))
		}
		if len(p.res.samples) == 0 {
			f = append(f, fmt.Sprintf("no good round trip completed during the %s", p.name))
		}
	}
	return f
}

// print writes the report table.
func (r *report) print(out io.Writer) {
	fmt.Fprintf(out, "\njmqx hostile-client benchmark: attacks on the default tenant (%s) for %s (ran %s), round trips on tenant good (%s)\n",
		r.defaultAddr, r.cfg.duration, r.attackRan, r.goodAddr)
	fmt.Fprintf(out, "rates: flood %s (%d publishers), bigsubs %s (%d clients)\n",
		rateString(r.cfg.floodRate, "PUBLISH", "publisher"), floodPublishers, rateString(r.cfg.bigSubsRate, "SUBSCRIBE", "client"), bigSubClients)
	if r.cfg.memoryBudget != "" {
		fmt.Fprintf(out, "jmqx serve --memory-budget %s (%s)\n", r.cfg.memoryBudget, bytesString(r.cfg.budgetBytes))
	}
	fmt.Fprintln(out)
	if len(r.attacks) > 0 {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "attack\tconns\tdial errors\tdropped early\tpackets\tbytes out\tbytes in\tbroker answers")
		for _, a := range r.attacks {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", a.name, a.conns.Load(), a.dialErrs.Load(), a.dropped.Load(),
				a.packets.Load(), bytesString(a.bytesOut.Load()), bytesString(a.bytesIn.Load()), a.notes())
		}
		_ = tw.Flush()
		fmt.Fprintf(out, "(peak sockets open at once: %d of at most %d)\n\n", r.peakSockets, r.cfg.maxSockets)
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	bound := "not given"
	if kib, from := r.boundKiB(); kib > 0 {
		bound = fmt.Sprintf("%s (%s)", mib(kib), from)
	}
	fmt.Fprintf(tw, "broker RSS at attack start\t%s\n", mib(r.rssBeforeKiB))
	fmt.Fprintf(tw, "broker peak RSS\t%s (VmHWM %s)\n", mib(r.peakRSSKiB), mib(r.hwmKiB))
	if f := r.formulaKiB(); f > 0 {
		fmt.Fprintf(tw, "live heap bound\tbudget %s + sockets_peak %d × %d KiB + password checks %d (%s) × %d MiB + %d MiB = %s\n",
			bytesString(r.cfg.budgetBytes), r.peakSockets, perSocketKiB, r.pwChecks, passwordChecksDoc, perPwCheckKiB>>10, formulaRestKiB>>10, mib(r.heapKiB()))
		fmt.Fprintf(tw, "stated bound formula\tmax(GOMEMLIMIT %s, live heap bound × 1.1) + %d MiB = %s\n",
			mib(r.memLimitKiB()), runtimeKiB>>10, mib(f))
	}
	fmt.Fprintf(tw, "stated bound\t%s\n", bound)
	_ = tw.Flush()
	fmt.Fprintln(out)

	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "good QoS 1 round trips\tn\tfailed\treconnects\tp50\tp99\tmax\t")
	for _, p := range []struct {
		name string
		res  rttResult
	}{{"baseline", r.baseline}, {"under attack", r.attack}} {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t\n", p.name, len(p.res.samples), p.res.failures, p.res.reconnects,
			ms(p.res.percentile(50)), ms(p.res.percentile(99)), ms(p.res.percentile(100)))
	}
	_ = tw.Flush()
	ratio := "n/a"
	if b := r.baseline.percentile(99); b > 0 && len(r.attack.samples) > 0 {
		ratio = fmt.Sprintf("%.2f", float64(r.attack.percentile(99))/float64(b))
	}
	fmt.Fprintf(out, "p99 under attack / p99 baseline: %s\n\n", ratio)

	if f := r.failures(); len(f) > 0 {
		fmt.Fprintf(out, "FAIL: %s\n", strings.Join(f, "; "))
	} else {
		fmt.Fprintln(out, "PASS")
	}
}

// rateString describes a pace of perSecond packets of a kind per sender.
func rateString(perSecond float64, kind, per string) string {
	if perSecond <= 0 {
		return "unpaced (" + kind + " as fast as possible)"
	}
	return fmt.Sprintf("%g %s/s per %s", perSecond, kind, per)
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
