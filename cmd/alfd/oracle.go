package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/alfd/alfd/learner/annotate"
)

// oracleFlags name the lists that label flows, for the daemon, eval and
// features alike.
type oracleFlags struct {
	blacklist      string
	blacklistPorts string
	domains        string
	domainsDecide  bool
	labels         string
}

func (o *oracleFlags) register(fs *flag.FlagSet, blacklistUsage string) {
	fs.StringVar(&o.blacklist, "blacklist", "", blacklistUsage)
	fs.StringVar(&o.blacklistPorts, "blacklist-ports", "", "label DoH by --blacklist only the flows with a listed address on one of these ports, e.g. 443, so that DNS over TLS to a listed resolver is not DoH (default: any port, as ALF)")
	fs.StringVar(&o.domains, "domains", "", "label DoH the flows whose TLS (or QUIC) server name is in this file or under a name in it, one a line (dns.google, *.dns.google or https://dns.google/dns-query), besides those --blacklist labels; a flow with another name is not DoH unless --blacklist says it is")
	fs.BoolVar(&o.domainsDecide, "domains-decide", false, "with --domains: a flow with a server name is DoH only when --domains lists it, and --blacklist labels only the flows without one (a web site at a CDN address the blacklist lists is then not DoH, nor a resolver whose name --domains lacks)")
	fs.StringVar(&o.labels, "labels", "", "a person's labels, which replace the lists' for the flows they name (ALF's human annotator): a CSV with SRC_IP, DST_IP, SRC_PORT, DST_PORT and class (True or False), as alfd features and the learner's queries.ID.csv write it; an empty port matches any, an empty class labels nothing")
}

// kind says which list the file at path is.
func (o *oracleFlags) kind(path string) string {
	switch path {
	case o.labels:
		return "labels"
	case o.domains:
		return "domains"
	}
	return "blacklist"
}

// given reports whether any list was named.
func (o *oracleFlags) given() bool { return o.blacklist != "" || o.domains != "" || o.labels != "" }

// load reads the lists, warning of the lines they skip, and returns the
// oracle they make, and the lists, which reload.Watch can keep fresh: a person's
// labels first, then DoH when the server name or the address is listed
// (with --domains-decide, by the name when there is one).
func (o *oracleFlags) load(log *slog.Logger) (annotate.Oracle, []annotate.Reloader, error) {
	if o.blacklistPorts != "" && o.blacklist == "" {
		return nil, nil, errors.New("--blacklist-ports needs --blacklist")
	}
	if o.domainsDecide && o.domains == "" {
		return nil, nil, errors.New("--domains-decide needs --domains")
	}
	var lists []annotate.Reloader
	var either annotate.Either
	if o.domains != "" {
		r, err := loadReloading(o.domains, "domains", annotate.LoadDomains, log)
		if err != nil {
			return nil, nil, err
		}
		lists, either = append(lists, r), append(either, r)
	}
	if o.blacklist != "" {
		load := annotate.LoadBlacklist
		if o.blacklistPorts != "" {
			ports, err := parsePortNumbers(o.blacklistPorts)
			if err != nil {
				return nil, nil, fmt.Errorf("--blacklist-ports: %w", err)
			}
			load = func(path string) (*annotate.Blacklist, []*annotate.LineError, error) {
				b, bad, err := annotate.LoadBlacklist(path)
				if err != nil {
					return nil, nil, err
				}
				return b.WithPorts(ports...), bad, nil
			}
		}
		r, err := loadReloading(o.blacklist, "blacklist", load, log)
		if err != nil {
			return nil, nil, err
		}
		lists, either = append(lists, r), append(either, r)
	}
	var oracle annotate.Oracle
	switch {
	case len(either) == 1:
		oracle = either[0]
	case len(either) > 1 && o.domainsDecide:
		oracle = annotate.Chain(either) // the names first: they know every flow with one
	case len(either) > 1:
		oracle = either
	}
	if o.labels != "" {
		r, err := loadReloading(o.labels, "labels", annotate.LoadHuman, log)
		if err != nil {
			return nil, nil, err
		}
		lists = append([]annotate.Reloader{r}, lists...)
		if oracle == nil {
			oracle = r
		} else {
			oracle = annotate.Chain{r, oracle}
		}
	}
	if oracle == nil {
		return nil, nil, errors.New("no oracle: give --blacklist, --domains or --labels")
	}
	return oracle, lists, nil
}

// loadReloading loads the list of kind at path, warning of the lines it
// skipped.
func loadReloading[L annotate.List](path, kind string, load func(string) (L, []*annotate.LineError, error), log *slog.Logger) (*annotate.Reloading[L], error) {
	r, bad, err := annotate.NewReloading(path, load)
	if err != nil {
		return nil, err
	}
	for _, le := range bad {
		log.Warn(kind+" line skipped", "err", le)
	}
	log.Debug(kind+" loaded", "file", path, "entries", r.Len())
	return r, nil
}

// parsePortNumbers parses a comma-separated list of port numbers.
func parsePortNumbers(s string) ([]uint16, error) {
	var ports []uint16
	for f := range strings.SplitSeq(s, ",") {
		p, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("%q is not a port number from 1 to 65535", f)
		}
		ports = append(ports, uint16(p))
	}
	return ports, nil
}
