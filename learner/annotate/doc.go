// Package annotate holds alfd's oracles: what labels a flow DoH or not
// when the learner asks. The Blacklist labels by the addresses of known
// DoH resolvers, as ALF's AnotatorDoH does; Domains by the TLS server
// names of DoH services; Human by a person's labels of single flows, which
// come first (ALF's human annotator), as a Chain puts them. Either joins
// lists: DoH when one of them says so. Reloading keeps a list fresh from
// its file while alfd runs, as reload.Watch rereads it.
package annotate
