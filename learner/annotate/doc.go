// Package annotate holds alfd's oracles: what labels a flow DoH or not
// when the learner asks. The Blacklist labels by the addresses of known
// DoH resolvers, as ALF's AnotatorDoH does.
package annotate
