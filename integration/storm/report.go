package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is what every phase found.
type report struct {
	cfg        config
	phases     []phaseResult
	incomplete string // why the run stopped early; "" when it did not
}

// medianRate returns the median subscribe rate of a phase over the rounds.
func (r *report) medianRate(name string) (float64, bool) {
	var rates []float64
	for _, p := range r.phases {
		if p.name == name {
			rates = append(rates, p.rate())
		}
	}
	if len(rates) == 0 {
		return 0, false
	}
	slices.Sort(rates)
	if n := len(rates); n%2 == 0 {
		return (rates[n/2-1] + rates[n/2]) / 2, true
	}
	return rates[len(rates)/2], true
}

// ratio returns the cluster's median subscribe rate over the single node's.
func (r *report) ratio() (float64, bool) {
	s, ok1 := r.medianRate("single")
	c, ok2 := r.medianRate("cluster")
	if !ok1 || !ok2 || s == 0 {
		return 0, false
	}
	return c / s, true
}

// failures lists the targets missed; empty means the run passed.
func (r *report) failures() []string {
	var f []string
	if r.incomplete != "" {
		f = append(f, "the run did not complete: "+strings.SplitN(r.incomplete, "\n", 2)[0])
	}
	for _, p := range r.phases {
		if p.subFailed > 0 {
			f = append(f, fmt.Sprintf("%s #%d: %d clients failed to subscribe (first: %s)", p.name, p.round, p.subFailed, p.subErr))
		}
		if p.pubFailed > 0 {
			f = append(f, fmt.Sprintf("%s #%d: %d commands not acknowledged (%s)", p.name, p.round, p.pubFailed, p.pubErr))
		}
		if p.misses > 0 {
			f = append(f, fmt.Sprintf("%s #%d: %d clients missed their command", p.name, p.round, p.misses))
		}
	}
	if ratio, ok := r.ratio(); ok && ratio < r.cfg.targetRatio {
		f = append(f, fmt.Sprintf("subscribe rate ratio %.2f below the target %.2f", ratio, r.cfg.targetRatio))
	}
	return f
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\nconnect storm: %d clients, %d at a time, MQTT level %d, persistent sessions %t\n\n", r.cfg.clients, r.cfg.concurrency, r.cfg.version, r.cfg.persistent)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "phase\tround\tnodes\tsubscribed\tsubscribe time\tsubscribes/s\tcommands acked\tPUBACKs done\treceived\tmisses\tpublish→all received")
	for _, p := range r.phases {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d/%d\t%s\t%.0f\t%d\t%s\t%d\t%d\t%s\n", p.name, p.round, p.nodes, p.subscribed, p.clients,
			p.subTook.Round(time.Millisecond), p.rate(), p.published, p.pubAcksTook.Round(time.Millisecond),
			p.received, p.misses, p.recvTook.Round(time.Millisecond))
	}
	_ = tw.Flush()
	fmt.Fprintln(w)
	for _, name := range []string{"single", "cluster"} {
		if rate, ok := r.medianRate(name); ok {
			fmt.Fprintf(w, "subscribe rate, %s (median of %d): %.0f/s\n", name, r.cfg.rounds, rate)
		}
	}
	if ratio, ok := r.ratio(); ok {
		fmt.Fprintf(w, "subscribe rate, cluster / single: %.2f (target ≥ %.2f)\n", ratio, r.cfg.targetRatio)
	}
	if f := r.failures(); len(f) > 0 {
		fmt.Fprintln(w, "\nFAIL:")
		for _, s := range f {
			fmt.Fprintln(w, "  "+s)
		}
	} else {
		fmt.Fprintln(w, "\nPASS")
	}
}
