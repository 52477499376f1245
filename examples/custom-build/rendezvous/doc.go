// Package rendezvous is weighted rendezvous (highest random weight)
// hashing as a compiled-in walnut distribution, registered as
// "rendezvous": importing the package is all a custom build needs.
//
// A key goes to the live server with the highest score
// -weight / ln(u), where u in (0, 1) is the key's hash mixed with a
// per-server seed (Schindelhauer and Schomaker's weighted form). Removing
// or ejecting a server moves only its own keys, spread over the others
// in proportion to their weights. Pick scores every live server, so it
// costs O(servers) per request: fine for the tens of servers a pool
// has, where a table lookup would not be worth its memory.
package rendezvous
